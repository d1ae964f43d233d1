package app.nyckel.ffi

import java.nio.file.Files
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.json.JSONObject
import org.junit.jupiter.api.Test

/**
 * Imports from other apps and the Aegis export through the bindings, on the sample files of
 * core/tests/import-samples (written from the formats' published layouts; the encrypted ones made
 * by make_encrypted.py with Python's `cryptography`, password "test"), as the import screen calls them.
 */
class ImportExportTest {
    private val samples: Path = Path.of(System.getProperty("nyckel.samples"))

    private fun sample(name: String): ByteArray = Files.readAllBytes(samples.resolve(name))

    private fun vault(clock: PlatformClock = FixedClock(1_700_000_000u)): Nyckel =
        Nyckel.open(Files.createTempDirectory("nyckel-import").resolve("vault").toString(), InMemoryKeyStore(), clock, "JVM test")

    /** The accounts every sample holds (issuer, name, type), in file order. */
    private val standard = listOf(
        Triple("ACME", "alice@example.com", OtpType.TOTP),
        Triple("Bank", "bob", OtpType.HOTP),
        Triple("Steam", "gabe", OtpType.STEAM),
        Triple("Example", "carol", OtpType.TOTP),
    )

    private fun Nyckel.summary() = accounts().map { Triple(it.issuer, it.name, it.otpType) }

    private fun List<ImportedEntry>.outcomes() = map { it.outcome }

    @Test
    fun `formats are detected from the bytes`() {
        assertEquals(ImportFormat.AEGIS, detectImportFormat(sample("aegis_plain.json")))
        assertEquals(ImportFormat.AEGIS, detectImportFormat(sample("aegis_encrypted.json")))
        assertEquals(ImportFormat.TWO_FAS, detectImportFormat(sample("2fas_plain.2fas")))
        assertEquals(ImportFormat.TWO_FAS, detectImportFormat(sample("2fas_encrypted.2fas")))
        assertNull(detectImportFormat("just some text".toByteArray()))
    }

    @Test
    fun `a plain Aegis file adds the good entries and refuses the bad ones with a reason`() {
        val app = vault()
        val entries = app.importFile(sample("aegis_plain.json"), null, null, false)
        assertEquals((1u..6u).toList(), entries.map { it.position })
        val A = ImportOutcome.ADDED
        val R = ImportOutcome.REFUSED
        assertEquals(listOf(A, A, R, A, R, A), entries.outcomes())
        entries.filter { it.outcome == R }.forEach {
            assertNotNull(it.reason, "a refused entry says why")
            assertNull(it.accountId)
        }
        assertTrue(entries.filter { it.outcome == A }.all { it.accountId != null })
        assertEquals(standard, app.summary())
        assertTrue(entries[2].label.contains("Typo"), entries[2].label)

        // Again: every good entry is already there, the bad ones still refused, nothing doubled.
        val again = app.importFile(sample("aegis_plain.json"), ImportFormat.AEGIS, null, false)
        assertEquals(listOf(ImportOutcome.ALREADY_PRESENT, ImportOutcome.ALREADY_PRESENT, R, ImportOutcome.ALREADY_PRESENT, R, ImportOutcome.ALREADY_PRESENT), again.outcomes())
        assertEquals(4, app.accounts().size)
    }

    @Test
    fun `an encrypted Aegis file needs its password, and a wrong one adds nothing`() {
        val app = vault()
        val bytes = sample("aegis_encrypted.json")
        assertFailsWith<NyckelException.WrongKey>("no password: the screen asks for one") { app.importFile(bytes, null, null, false) }
        assertFailsWith<NyckelException.WrongKey> { app.importFile(bytes, null, "wrong", false) }
        assertEquals(0, app.accounts().size)
        val entries = app.importFile(bytes, null, "test", false)
        assertEquals(4, entries.count { it.outcome == ImportOutcome.ADDED })
        assertEquals(2, entries.count { it.outcome == ImportOutcome.REFUSED })
        assertEquals(standard, app.summary())
    }

    @Test
    fun `2FAS files, plain and encrypted`() {
        val app = vault()
        val plain = app.importFile(sample("2fas_plain.2fas"), null, null, false)
        assertEquals(4, plain.count { it.outcome == ImportOutcome.ADDED })
        val refused = plain.single { it.outcome == ImportOutcome.REFUSED }
        assertTrue(refused.reason!!.contains("base32", ignoreCase = true), refused.reason)
        assertEquals(standard, app.summary())

        val other = vault()
        assertFailsWith<NyckelException.WrongKey> { other.importFile(sample("2fas_encrypted.2fas"), null, null, false) }
        val encrypted = other.importFile(sample("2fas_encrypted.2fas"), ImportFormat.TWO_FAS, "test", false)
        assertEquals(plain.outcomes(), encrypted.outcomes())
        assertEquals(app.currentCodes().map { it.code }, other.currentCodes().map { it.code }, "same secrets")
    }

    @Test
    fun `all or nothing refuses a file with a bad entry without adding anything`() {
        val app = vault()
        app.addAccount("otpauth://totp/Kept:zoe?secret=MFRGGZDFMZTWQ2LK")
        val entries = app.importFile(sample("aegis_plain.json"), null, null, true)
        assertEquals(2, entries.count { it.outcome == ImportOutcome.REFUSED })
        assertEquals(4, entries.count { it.outcome == ImportOutcome.NOT_ADDED })
        assertTrue(entries.none { it.outcome == ImportOutcome.ADDED || it.accountId != null })
        assertEquals(listOf("Kept"), app.accounts().map { it.issuer }, "nothing added, nothing lost")
        // Without the switch the same file adds its good entries.
        assertEquals(4, app.importFile(sample("aegis_plain.json"), null, null, false).count { it.outcome == ImportOutcome.ADDED })
    }

    @Test
    fun `an Aegis export imports back equal, plain and encrypted`() {
        val clock = FixedClock(1_700_000_000u)
        val app = vault(clock)
        app.importFile(sample("aegis_plain.json"), null, null, false)
        app.nextHotpCode(app.accounts().single { it.otpType == OtpType.HOTP }.id)

        val plain = app.exportAegis(null)
        // Read with org.json, not Nyckel: a plain Aegis vault with the secret in clear.
        val db = JSONObject(String(plain)).getJSONObject("db")
        val acme = (0 until db.getJSONArray("entries").length()).map { db.getJSONArray("entries").getJSONObject(it) }
            .single { it.getString("issuer") == "ACME" }
        assertEquals("JBSWY3DPEHPK3PXP", acme.getJSONObject("info").getString("secret"))

        val encrypted = app.exportAegis("export password")
        assertFalse(String(encrypted).contains("JBSWY3DPEHPK3PXP"), "no secret in clear in the encrypted file")
        assertEquals(ImportFormat.AEGIS, detectImportFormat(encrypted))

        for ((bytes, password) in listOf(plain to null, encrypted to "export password")) {
            val other = vault(clock)
            val entries = other.importFile(bytes, null, password, true)
            assertTrue(entries.all { it.outcome == ImportOutcome.ADDED }, "$entries")
            assertEquals(app.accounts().map { it.copy(id = 0u) }, other.accounts().map { it.copy(id = 0u) }, "same accounts, HOTP counter kept")
            assertEquals(app.currentCodes().map { it.code }, other.currentCodes().map { it.code }, "same secrets")
        }
        assertFailsWith<NyckelException.WrongKey> { vault().importFile(encrypted, null, "wrong", false) }
    }
}
