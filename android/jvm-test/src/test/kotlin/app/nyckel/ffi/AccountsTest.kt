package app.nyckel.ffi

import java.nio.file.Files
import java.security.SecureRandom
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/**
 * A key store written in Kotlin, so the foreign-trait path is exercised for real: the vault
 * key in memory, and device keys as java.security ECDSA P-256 key pairs (DER signatures, SPKI
 * public keys — what Android Keystore gives too).
 */
class InMemoryKeyStore : PlatformKeyStore {
    val keys = ConcurrentHashMap<String, ByteArray>()
    val deviceKeys = ConcurrentHashMap<String, java.security.KeyPair>()
    var calls = 0
    var signatures = 0

    override fun createDeviceKey(alias: String): ByteArray {
        if (deviceKeys.containsKey(alias)) throw NyckelException.Platform("key $alias exists")
        val generator = java.security.KeyPairGenerator.getInstance("EC")
        generator.initialize(java.security.spec.ECGenParameterSpec("secp256r1"))
        val pair = generator.generateKeyPair()
        deviceKeys[alias] = pair
        return pair.public.encoded
    }

    override fun devicePublicKey(alias: String): ByteArray =
        deviceKeys[alias]?.public?.encoded ?: throw NyckelException.NotFound("no device key $alias")

    override fun signWithDeviceKey(alias: String, message: ByteArray): ByteArray {
        val pair = deviceKeys[alias] ?: throw NyckelException.NotFound("no device key $alias")
        signatures++
        return java.security.Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }

    override fun deleteDeviceKey(alias: String) {
        deviceKeys.remove(alias)
    }

    override fun createVaultKey(): StoredVaultKey {
        calls++
        val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val alias = "vault-" + Base64.getEncoder().encodeToString(ByteArray(6).also { SecureRandom().nextBytes(it) })
        keys[alias] = key
        return StoredVaultKey(alias, key)
    }

    override fun vaultKey(reference: String): ByteArray {
        calls++
        return keys[reference] ?: throw NyckelException.Platform("no key named $reference")
    }
}

class FixedClock(var now: ULong) : PlatformClock {
    override fun nowUnixSeconds(): ULong = now
}

class AccountsTest {
    private fun tempVault(): String = Files.createTempDirectory("nyckel-kt").resolve("vault").toString()

    @Test
    fun `totp codes follow RFC 6238 with an injected clock`() {
        val store = InMemoryKeyStore()
        val clock = FixedClock(59u)
        val app = Nyckel.open(tempVault(), store, clock, "JVM test")
        // RFC 6238 appendix B secrets, base32.
        app.addAccount("otpauth://totp/RFC:sha1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8")
        app.addAccount(
            "otpauth://totp/RFC:sha256?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&digits=8&algorithm=SHA256",
        )
        val expected = mapOf(59uL to listOf("94287082", "46119246"), 1111111109uL to listOf("07081804", "68084774"))
        for ((time, codes) in expected) {
            clock.now = time
            assertEquals(codes, app.currentCodes().map { it.code })
        }
        assertEquals(1uL, app.currentCodes()[0].secondsLeft)
        assertTrue(store.calls >= 1, "the Kotlin key store was asked for the vault key")
    }

    @Test
    fun `hotp counter advances and survives reopening`() {
        val store = InMemoryKeyStore()
        val path = tempVault()
        val app = Nyckel.open(path, store, FixedClock(0u), "JVM test")
        val account = app.addAccount("otpauth://hotp/RFC:4226?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0")
        assertEquals(listOf("755224", "287082"), List(2) { app.nextHotpCode(account.id).code })
        app.destroy()
        val reopened = Nyckel.open(path, store, FixedClock(0u), "JVM test")
        assertEquals(2uL, reopened.accounts().single().counter)
        assertEquals("", reopened.currentCodes().single().code, "listing codes never spends an HOTP counter")
        assertEquals("359152", reopened.nextHotpCode(account.id).code)
    }

    @Test
    fun `errors arrive as typed Kotlin exceptions and change nothing`() {
        val app = Nyckel.open(tempVault(), InMemoryKeyStore(), FixedClock(0u), "JVM test")
        assertFailsWith<NyckelException.InvalidInput> { app.addAccount("otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP&digits=12") }
        assertFailsWith<NyckelException.InvalidInput> { app.addAccount("otpauth://totp/A:b") }
        assertFailsWith<NyckelException.InvalidInput> { app.importMigration(listOf("otpauth-migration://offline?data=CjEKCkhl")) }
        assertFailsWith<NyckelException.NotFound> { app.deleteAccount(42u) }
        assertEquals(0, app.accounts().size)
    }

    @Test
    fun `a key store that fails or hands back another key is reported, not crashed`() {
        val path = tempVault()
        Nyckel.open(path, InMemoryKeyStore(), FixedClock(0u), "JVM test").destroy()
        // A fresh store does not know the alias: the Kotlin exception travels through Rust and back.
        assertFailsWith<NyckelException.Platform> { Nyckel.open(path, InMemoryKeyStore(), FixedClock(0u), "JVM test") }
        val liar = object : PlatformKeyStore {
            override fun createVaultKey() = StoredVaultKey("short", ByteArray(5))
            override fun vaultKey(reference: String) = ByteArray(5)
            override fun createDeviceKey(alias: String) = ByteArray(0)
            override fun devicePublicKey(alias: String) = ByteArray(0)
            override fun signWithDeviceKey(alias: String, message: ByteArray) = ByteArray(0)
            override fun deleteDeviceKey(alias: String) {}
        }
        assertFailsWith<NyckelException.Platform> { Nyckel.open(tempVault(), liar, FixedClock(0u), "JVM test") }
    }

    @Test
    fun `google export and encrypted backup round trip`() {
        val app = Nyckel.open(tempVault(), InMemoryKeyStore(), FixedClock(0u), "JVM test")
        val report = app.importMigration(
            listOf("otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC"),
        )
        assertEquals(1uL, report.added)
        assertEquals("Example", app.accounts().single().issuer)
        val backup = app.exportBackup("backup passphrase")
        val other = Nyckel.open(tempVault(), InMemoryKeyStore(), FixedClock(0u), "JVM test")
        assertFailsWith<NyckelException.WrongKey> { other.importBackup(backup, "wrong") }
        assertEquals(1uL, other.importBackup(backup, "backup passphrase").added)
        assertEquals(app.accounts().map { it.name }, other.accounts().map { it.name })
    }
}
