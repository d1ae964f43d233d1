package app.nyckel.ffi

import java.security.SecureRandom
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test

/**
 * A software stand-in for the platform's biometric key: AES-256-GCM keys from javax.crypto held
 * in memory (the Android app's keys live in Keystore behind BiometricPrompt instead), with
 * switches for what the "prompt" does — succeed, cancel, lockout — and for an enrollment change
 * that invalidates every key, as `setInvalidatedByBiometricEnrollment(true)` does.
 */
class SoftwareBiometricKey : PlatformBiometricKey {
    enum class Prompt { SUCCEED, CANCEL, LOCKOUT }

    private val keys = mutableMapOf<String, SecretKey>()
    @Volatile var prompt = Prompt.SUCCEED
    @Volatile var invalidated = false
    val prompts = AtomicInteger()

    fun hasKey(alias: String): Boolean = synchronized(keys) { alias in keys }

    override fun createKey(alias: String) {
        val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        synchronized(keys) { keys[alias] = key }
        invalidated = false
    }

    override fun seal(alias: String, plaintext: ByteArray, aad: ByteArray, reason: String): ByteArray {
        val key = authenticate(alias)
        val iv = ByteArray(12).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, key, GCMParameterSpec(128, iv))
        cipher.updateAAD(aad)
        return iv + cipher.doFinal(plaintext)
    }

    override fun open(alias: String, sealed: ByteArray, aad: ByteArray, reason: String): ByteArray {
        val key = authenticate(alias)
        if (sealed.size < 12 + 16) throw NyckelException.Corrupt("sealed secret too short")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, sealed, 0, 12))
        cipher.updateAAD(aad)
        return try {
            cipher.doFinal(sealed, 12, sealed.size - 12)
        } catch (tag: AEADBadTagException) {
            throw NyckelException.Corrupt("the sealed secret does not authenticate")
        }
    }

    override fun deleteKey(alias: String) {
        synchronized(keys) { keys.remove(alias) }
    }

    /** What BiometricPrompt would decide, then the key it unlocks. */
    private fun authenticate(alias: String): SecretKey {
        prompts.incrementAndGet()
        if (invalidated) throw NyckelException.BiometricInvalidated("KeyPermanentlyInvalidatedException")
        when (prompt) {
            Prompt.CANCEL -> throw NyckelException.BiometricCancelled("the user cancelled")
            Prompt.LOCKOUT -> throw NyckelException.BiometricLockout("too many attempts")
            Prompt.SUCCEED -> {}
        }
        return synchronized(keys) { keys[alias] } ?: throw NyckelException.BiometricInvalidated("no key under $alias")
    }
}

/**
 * Biometric approval through the bindings against a real `nyckel-server`: enabling with the
 * PIN, a live push approved with biometrics (the relying party sees it approved), the same QR
 * one-time password as with the PIN, cancel leaving the request open, and an invalidated key
 * giving a typed error after which the PIN still approves.
 */
class BiometricsTest {
    private val server = TestServer()

    @BeforeEach
    fun startServer() = server.start()

    @AfterEach
    fun stopServer() = server.stop()

    private fun rp(method: String, path: String, body: JSONObject? = null): JSONObject = server.rp(method, path, body)

    /** A phone registered with PIN 2468, with the stand-in biometric key given to it. */
    private fun registeredPhone(biometrics: SoftwareBiometricKey): Pair<Nyckel, RegistrationInfo> {
        val (phone, registration) = server.registeredPhone("2468")
        phone.setBiometricKey(biometrics)
        return phone to registration
    }

    /** Pushes a sign-in request and waits until the phone has it. */
    private fun pushed(listener: QueueListener): ApprovalRequest {
        val body = JSONObject().put("user", "alice").put("number_matching", "none")
            .put("context", JSONObject().put("service", "Trade portal").put("action", "Sign in"))
        val created = rp("POST", "/v1/challenges/push", body)
        val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request arrived: ${listener.errors}")
        assertEquals(created.getString("challenge_id"), request.challengeId)
        return request
    }

    private fun state(request: ApprovalRequest) = rp("GET", "/v1/challenges/${request.challengeId}?wait=0").getString("state")

    @Test
    fun `enabled with the PIN, a live push is approved with biometrics`() {
        val biometrics = SoftwareBiometricKey()
        val (phone, registration) = registeredPhone(biometrics)
        assertFalse(phone.biometricsEnabled(registration.id))
        // A wrong PIN is judged by the server and never sealed.
        val wrong = assertFailsWith<NyckelException.WrongPin> { runBlocking { phone.enableBiometrics(registration.id, "1111") } }
        assertEquals(4u, wrong.attemptsLeft)
        assertFalse(phone.biometricsEnabled(registration.id))
        runBlocking { phone.enableBiometrics(registration.id, "2468") }
        assertTrue(phone.biometricsEnabled(registration.id))

        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            // Cancelling the prompt leaves the request open.
            biometrics.prompt = SoftwareBiometricKey.Prompt.CANCEL
            val request = pushed(listener)
            assertFailsWith<NyckelException.BiometricCancelled> {
                runBlocking { phone.approveWithBiometrics(request.registrationId, request.challengeId, null) }
            }
            assertEquals("pending", state(request))
            biometrics.prompt = SoftwareBiometricKey.Prompt.SUCCEED
            val outcome = runBlocking { phone.approveWithBiometrics(request.registrationId, request.challengeId, null) }
            assertEquals(ChallengeOutcome.APPROVED, outcome)
            assertEquals("approved", state(request))
        }

        // A QR one-time password with biometrics is the one the PIN gives, and the server takes it.
        val created = rp("POST", "/v1/challenges/qr", JSONObject().put("user", "alice").put("service", "Statistics portal").put("action", "Sign in"))
        val byBiometrics = runBlocking { phone.qrOtpWithBiometrics(created.getString("qr"), null) }
        assertEquals(phone.qrOtp(created.getString("qr"), null, "2468"), byBiometrics)
        val verified = rp("POST", "/v1/challenges/${created.getString("challenge_id")}/otp", JSONObject().put("otp", byBiometrics))
        assertEquals("approved", verified.getString("state"))

        // Disabling removes the sealed secret and the key.
        phone.disableBiometrics(registration.id)
        assertFalse(phone.biometricsEnabled(registration.id))
        assertFalse(biometrics.hasKey("nyckel-bio-${registration.id}"))
    }

    @Test
    fun `an invalidated key is a typed error, turns biometrics off, and the PIN still approves`() {
        val biometrics = SoftwareBiometricKey()
        val (phone, registration) = registeredPhone(biometrics)
        runBlocking { phone.enableBiometrics(registration.id, "2468") }
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            val request = pushed(listener)
            biometrics.invalidated = true
            assertFailsWith<NyckelException.BiometricInvalidated> {
                runBlocking { phone.approveWithBiometrics(request.registrationId, request.challengeId, null) }
            }
            assertFalse(phone.biometricsEnabled(registration.id), "the sealed secret is dropped")
            assertFailsWith<NyckelException.BiometricUnavailable> {
                runBlocking { phone.approveWithBiometrics(request.registrationId, request.challengeId, null) }
            }
            assertEquals("pending", state(request))
            // Biometric failures are local: the server counted no wrong PIN.
            val device = rp("GET", "/v1/users/alice/devices").getJSONArray("devices").getJSONObject(0)
            assertEquals(0, device.getInt("pin_failures"), device.toString())
            val outcome = runBlocking { phone.approve(request.registrationId, request.challengeId, "2468", null) }
            assertEquals(ChallengeOutcome.APPROVED, outcome)
            assertEquals("approved", state(request))
        }
    }

    @Test
    fun `changing the PIN keeps biometrics working under the new secret`() {
        val biometrics = SoftwareBiometricKey()
        val (phone, registration) = registeredPhone(biometrics)
        runBlocking { phone.enableBiometrics(registration.id, "2468") }
        runBlocking { phone.changePin(registration.id, "2468", "1357") }
        assertTrue(phone.biometricsEnabled(registration.id))
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            val request = pushed(listener)
            val outcome = runBlocking { phone.approveWithBiometrics(request.registrationId, request.challengeId, null) }
            assertEquals(ChallengeOutcome.APPROVED, outcome)
        }
        // Cancelling the re-seal of a second change turns biometrics off rather than keep the old secret.
        biometrics.prompt = SoftwareBiometricKey.Prompt.CANCEL
        runBlocking { phone.changePin(registration.id, "1357", "8642") }
        assertFalse(phone.biometricsEnabled(registration.id))
    }
}
