package app.nyckel.ffi

import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * The bindings against the live privacyIDEA 3.14 (scripts/privacyidea/start.sh): push
 * enrolment, a request through the one approvals subscription, accept, decline with a reason,
 * a wrong number refused, the app PIN as a local gate; tiqr enrolment and login with a wrong
 * PIN counted by the server; HOTP and TOTP tokens enrolled by privacyIDEA logging in.
 */
class PrivacyIdeaTest {
    private fun approve(pin: String?, number: String? = null) = RequestAnswer.Approve(pin, number)

    @Test
    fun `push enrolment, a request through the subscription, accept and decline with a reason`() {
        val pi = PrivacyIdeaServer.connect() ?: return
        val phone = pi.phone()
        val (serial, code) = pi.init("push", "alice", "pushurl")
        val token = runBlocking { phone.enrollToken(code, null) }
        assertEquals(Provider.PRIVACY_IDEA, token.provider)
        assertEquals(serial, token.serial)
        assertEquals(PinCheck.NONE, token.pinCheck)
        assertEquals(listOf(token), phone.tokens())

        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            val (transaction, _) = pi.trigger("alice", serial)
            val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request: ${listener.errors}")
            assertEquals(Provider.PRIVACY_IDEA, request.provider)
            assertEquals(token.id, request.registrationId)
            assertEquals("privacyIDEA", request.service)
            assertEquals(pi.host, request.serverHost)
            assertEquals("Do you want to confirm the login?", request.action)
            assertTrue(phone.pendingApprovals().any { it.challengeId == request.challengeId }, "in the one list")
            val result = runBlocking { phone.answerRequest(request.registrationId, request.challengeId, approve(null)) }
            assertEquals(ChallengeOutcome.APPROVED, result.outcome)
            assertEquals("accept", pi.status(transaction))
        }

        val (transaction, _) = pi.trigger("alice", serial)
        val request = runBlocking { phone.pollTokens() }.single()
        assertTrue(request.declineReasons)
        val declined = runBlocking {
            phone.answerRequest(request.registrationId, request.challengeId, RequestAnswer.Decline(DeclineReason.CANCELLED))
        }
        assertEquals(ChallengeOutcome.DENIED, declined.outcome)
        assertEquals("cancelled", pi.status(transaction))
        assertTrue(phone.removeToken(token.id))
        assertEquals(emptyList(), phone.tokens())
    }

    @Test
    fun `a wrong number is refused and the app PIN is a local gate`() {
        val pi = PrivacyIdeaServer.connect() ?: return
        val phone = pi.phone()
        val (serial, code) = pi.init("push", "carol", "pushurl")
        runBlocking { phone.enrollToken(code, null) }
        val (transaction, shown) = pi.trigger("carol", serial)
        val right = shown.getString("presence_answer")
        val request = runBlocking { phone.pollTokens() }.single()
        val choices = (request.numberChoice as NumberChoice.Choose).choices
        assertFailsWith<NyckelException.InvalidInput>("not an option: refused on the phone") {
            runBlocking { phone.answerRequest(request.registrationId, request.challengeId, approve(null, "not-an-option")) }
        }
        val wrong = choices.first { it != right }
        assertFailsWith<NyckelException.RequestClosed> {
            runBlocking { phone.answerRequest(request.registrationId, request.challengeId, approve(null, wrong)) }
        }
        assertEquals("pending", pi.status(transaction), "privacyIDEA refused the wrong number")

        val (gated, gatedCode) = pi.init("push", "erin", "pushurl")
        assertFailsWith<NyckelException.PinRequired>("the policy asks for an app PIN") { runBlocking { phone.enrollToken(gatedCode, null) } }
        val token = runBlocking { phone.enrollToken(gatedCode, "2468") }
        assertEquals(PinCheck.LOCAL_GATE, token.pinCheck)
        assertTrue(localGateNotice().contains("local gate"))
        val (gatedTransaction, _) = pi.trigger("erin", gated)
        val gatedRequest = runBlocking { phone.pollTokens() }.single { it.registrationId == token.id }
        assertEquals(PinCheck.LOCAL_GATE, gatedRequest.pinCheck)
        val wrongPin = assertFailsWith<NyckelException.WrongPin> {
            runBlocking { phone.approve(gatedRequest.registrationId, gatedRequest.challengeId, "1357", null) }
        }
        assertEquals(4u, wrongPin.attemptsLeft)
        assertEquals("pending", pi.status(gatedTransaction))
        assertEquals(ChallengeOutcome.APPROVED, runBlocking { phone.approve(gatedRequest.registrationId, gatedRequest.challengeId, "2468", null) })
        assertEquals("accept", pi.status(gatedTransaction))

        // Biometrics instead of the app PIN: off until enabled with the PIN, then the prompt opens the gate.
        val biometricKey = SoftwareBiometricKey()
        phone.setBiometricKey(biometricKey)
        val (secondTransaction, _) = pi.trigger("erin", gated)
        val second = runBlocking { phone.pollTokens() }.single { it.registrationId == token.id }
        assertFailsWith<NyckelException.BiometricUnavailable> {
            runBlocking { phone.answerRequest(second.registrationId, second.challengeId, RequestAnswer.ApproveWithBiometrics(null)) }
        }
        assertFailsWith<NyckelException.WrongPin> { runBlocking { phone.enableTokenBiometrics(token.id, "0000") } }
        assertFalse(phone.tokenBiometricsEnabled(token.id))
        runBlocking { phone.enableTokenBiometrics(token.id, "2468") }
        assertTrue(phone.tokenBiometricsEnabled(token.id))
        biometricKey.prompt = SoftwareBiometricKey.Prompt.CANCEL
        assertFailsWith<NyckelException.BiometricCancelled> {
            runBlocking { phone.answerRequest(second.registrationId, second.challengeId, RequestAnswer.ApproveWithBiometrics(null)) }
        }
        assertEquals("pending", pi.status(secondTransaction))
        biometricKey.prompt = SoftwareBiometricKey.Prompt.SUCCEED
        val viaBiometrics = runBlocking { phone.answerRequest(second.registrationId, second.challengeId, RequestAnswer.ApproveWithBiometrics(null)) }
        assertEquals(ChallengeOutcome.APPROVED, viaBiometrics.outcome)
        assertEquals("accept", pi.status(secondTransaction))
    }

    @Test
    fun `tiqr enrolment and login with a wrong PIN counted by the server`() {
        val pi = PrivacyIdeaServer.connect() ?: return
        val phone = pi.phone()
        val (serial, code) = pi.init("tiqr", "gina", "tiqrenroll")
        val token = runBlocking { phone.enrollToken(code, "2468") }
        assertEquals(Provider.TIQR, token.provider)
        assertEquals(PinCheck.SERVER, token.pinCheck)

        val (transaction, shown) = pi.trigger("gina", serial)
        val login = shown.getJSONObject("attributes").getString("value")
        val request = phone.scanLoginCode(login)
        assertEquals(Provider.TIQR, request.provider)
        assertEquals("privacyIDEA", request.service)
        assertTrue(phone.pendingApprovals().any { it.challengeId == request.challengeId })
        val failures = pi.failcount(serial)
        assertFailsWith<NyckelException.WrongPin> {
            runBlocking { phone.answerRequest(request.registrationId, request.challengeId, approve("1357")) }
        }
        assertEquals(failures + 1, pi.failcount(serial), "the server counted the wrong PIN")
        assertEquals("pending", pi.status(transaction))
        val result = runBlocking { phone.answerRequest(request.registrationId, request.challengeId, approve("2468")) }
        assertEquals(ChallengeOutcome.APPROVED, result.outcome)
        assertEquals("accept", pi.status(transaction))
        assertEquals(6, phone.tiqrOfflineResponse(login, "2468").length)
    }

    @Test
    fun `HOTP and TOTP tokens enrolled by privacyIDEA import with their serial and log in`() {
        val pi = PrivacyIdeaServer.connect() ?: return
        val phone = pi.phone()
        for (type in listOf("hotp", "totp")) {
            val (serial, uri) = pi.init(type, "ivan", "googleurl")
            val account = phone.addAccount(uri)
            assertEquals(AccountOrigin(serial, "privacyidea"), phone.accountOrigin(account.id))
            val code = if (type == "hotp") {
                phone.nextHotpCode(account.id).code
            } else {
                phone.currentCodes().single { it.account.id == account.id }.code
            }
            assertEquals(6, code.length, "$type: $code")
            val check = pi.post("/validate/check", "serial" to serial, "pass" to code)
            assertTrue(check.getJSONObject("result").getBoolean("value"), "$type: privacyIDEA refused $code: $check")
            // The same code again is refused by the server (HOTP counter and TOTP step both move on).
            val again = pi.post("/validate/check", "serial" to serial, "pass" to code)
            assertFalse(again.getJSONObject("result").getBoolean("value"), "$type: a code worked twice: $again")
        }
    }
}
