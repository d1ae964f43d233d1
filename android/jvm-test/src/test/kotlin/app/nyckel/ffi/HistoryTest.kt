package app.nyckel.ffi

import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test

/**
 * The history screen's calls against a real `nyckel-server`: what the phone answered, with the
 * server's signed receipts, and the check of the chain against the server's audit of the device.
 */
class HistoryTest {
    private val server = TestServer()

    @BeforeEach
    fun startServer() = server.start()

    @AfterEach
    fun stopServer() = server.stop()

    @Test
    fun `answers are in the history with receipts and agree with the server's audit`() {
        val (phone, registration) = server.registeredPhone("2468")
        assertEquals(emptyList(), phone.history(null))
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            for (deny in listOf(false, true)) {
                val created = server.push(numberMatching = false)
                val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request arrived: ${listener.errors}")
                assertEquals(created.getString("challenge_id"), request.challengeId)
                val outcome = runBlocking {
                    if (deny) phone.deny(request.registrationId, request.challengeId)
                    else phone.approve(request.registrationId, request.challengeId, "2468", null)
                }
                assertEquals(if (deny) ChallengeOutcome.DENIED else ChallengeOutcome.APPROVED, outcome)
            }
        }
        val created = server.rp("POST", "/v1/challenges/qr", JSONObject().put("user", "alice").put("service", "Statistics portal").put("action", "Sign in"))
        val otp = phone.qrOtp(created.getString("qr"), null, "2468")

        val history = phone.history(null)
        assertEquals(listOf(1uL, 2uL, 3uL), history.map { it.seq })
        val (approved, denied, code) = history
        for (entry in listOf(approved, denied)) {
            assertEquals(registration.id, entry.registrationId)
            assertEquals("Trade portal", entry.service)
            assertEquals("Change payee", entry.action)
            assertFalse(entry.isQrOtp)
            assertTrue(entry.hasReceipt, "the server's signed receipt verified and is kept: $entry")
            assertFalse(entry.receiptRefused)
        }
        assertEquals("approve" to "approved", approved.decision to approved.result)
        assertEquals("deny" to "denied", denied.decision to denied.result)
        val now = System.currentTimeMillis() / 1000
        assertTrue(approved.at.toLong() in now - 300..now, "answered just now: ${approved.at}")
        assertTrue(code.isQrOtp)
        assertEquals("otp" to "Statistics portal", code.decision to code.service)
        assertFalse(history.toString().contains(otp), "the history never holds the one-time password")
        assertEquals(history, phone.history(registration.id))
        assertEquals(emptyList(), phone.history("no-such-registration"))

        val check = runBlocking { phone.checkHistory(registration.id) }
        assertTrue(check.agrees, "chain: ${check.chainFindings}, audit: ${check.disagreements}")
        assertEquals(3uL, check.entries)
        assertTrue(check.auditEvents >= 2uL, "the server's audit has the answers: ${check.auditEvents}")
        assertEquals(emptyList(), check.chainFindings + check.disagreements)
    }
}
