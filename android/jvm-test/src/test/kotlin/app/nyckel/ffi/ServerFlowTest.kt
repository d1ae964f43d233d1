package app.nyckel.ffi

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
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

/** The real clock: the phone and the server must agree on time for signed requests. */
class WallClock : PlatformClock {
    override fun nowUnixSeconds(): ULong = (System.currentTimeMillis() / 1000).toULong()
}

/** Collects what the approvals subscription delivers. */
class QueueListener : ApprovalListener {
    val requests = LinkedBlockingQueue<ApprovalRequest>()
    val errors = LinkedBlockingQueue<String>()
    override fun onApprovalRequest(request: ApprovalRequest) { requests.put(request) }
    override fun onPollingError(registrationId: String?, reason: String) { errors.put(reason) }
}

/**
 * The bindings against a real `nyckel-server` on 127.0.0.1: registration, push approval with
 * number matching through the subscription, wrong PINs blocking the device, changing the PIN,
 * QR one-time passwords, and cancelling the subscription.
 */
class ServerFlowTest {
    private val server = TestServer()

    @BeforeEach
    fun startServer() = server.start()

    @AfterEach
    fun stopServer() = server.stop()

    private fun rp(method: String, path: String, body: JSONObject? = null) = server.rp(method, path, body)

    private fun registeredPhone(pin: String) = server.registeredPhone(pin)

    private fun push(numberMatching: Boolean, lines: List<Pair<String, String>> = emptyList()) = server.push(numberMatching, lines)

    @Test
    fun `push with number matching arrives through the subscription and is approved with the PIN`() {
        val (phone, registration) = registeredPhone("2468")
        val listener = QueueListener()
        val subscription = phone.subscribeApprovals(listener)
        val lines = listOf("New foreign account" to "BIC REVOLT21, IBAN LT60 3250 0123 4567", "Amount" to "1 250,00 EUR")
        val created = push(numberMatching = true, lines = lines)
        val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request arrived: ${listener.errors}")
        assertEquals(created.getString("challenge_id"), request.challengeId)
        assertEquals(registration.id, request.registrationId)
        assertEquals("Trade portal", request.service)
        assertEquals(lines, request.transaction.map { it.key to it.value }, "lines shown verbatim, in order")
        val choices = (request.numberChoice as NumberChoice.Choose).choices
        val number = created.getString("number")
        assertTrue(number in choices)

        val outcome = runBlocking { phone.approve(request.registrationId, request.challengeId, "2468", number) }
        assertEquals(ChallengeOutcome.APPROVED, outcome)
        assertEquals("approved", rp("GET", "/v1/challenges/${request.challengeId}?wait=0").getString("state"))

        runBlocking { subscription.stop() }
        assertFalse(subscription.isActive(), "stopping the subscription ends the polling task")
    }

    @Test
    fun `five wrong PINs block the device`() {
        val (phone, _) = registeredPhone("2468")
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            val created = push(numberMatching = false)
            val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request arrived: ${listener.errors}")
            val attemptsLeft = (1..4).map {
                assertFailsWith<NyckelException.WrongPin> {
                    runBlocking { phone.approve(request.registrationId, request.challengeId, "1111", null) }
                }.attemptsLeft
            }
            assertEquals(listOf(4u, 3u, 2u, 1u), attemptsLeft)
            assertFailsWith<NyckelException.DeviceBlocked> {
                runBlocking { phone.approve(request.registrationId, request.challengeId, "1111", null) }
            }
            assertEquals("blocked", rp("GET", "/v1/challenges/${created.getString("challenge_id")}?wait=0").getString("state"))
        }
    }

    @Test
    fun `changing the PIN needs the old one and then only the new one approves`() {
        val (phone, registration) = registeredPhone("2468")
        val wrong = assertFailsWith<NyckelException.WrongPin> {
            runBlocking { phone.changePin(registration.id, "1111", "1357") }
        }
        assertEquals(4u, wrong.attemptsLeft)
        assertFailsWith<NyckelException.InvalidInput> { runBlocking { phone.changePin(registration.id, "2468", "12") } }
        runBlocking { phone.changePin(registration.id, "2468", "1357") }
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            val created = push(numberMatching = false)
            val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS), "no request arrived: ${listener.errors}")
            assertFailsWith<NyckelException.WrongPin> {
                runBlocking { phone.approve(request.registrationId, request.challengeId, "2468", null) }
            }
            val outcome = runBlocking { phone.approve(request.registrationId, request.challengeId, "1357", null) }
            assertEquals(ChallengeOutcome.APPROVED, outcome)
            assertEquals("approved", rp("GET", "/v1/challenges/${created.getString("challenge_id")}?wait=0").getString("state"))
        }
    }

    @Test
    fun `deny and report fraud reach the relying party`() {
        val (phone, _) = registeredPhone("2468")
        val listener = QueueListener()
        phone.subscribeApprovals(listener).use {
            for ((answer, state) in listOf("deny" to "denied", "fraud" to "fraud")) {
                val created = push(numberMatching = false)
                val request = assertNotNull(listener.requests.poll(30, TimeUnit.SECONDS))
                assertEquals(created.getString("challenge_id"), request.challengeId)
                runBlocking {
                    if (answer == "deny") phone.deny(request.registrationId, request.challengeId)
                    else phone.reportFraud(request.registrationId, request.challengeId)
                }
                assertEquals(state, rp("GET", "/v1/challenges/${request.challengeId}?wait=0").getString("state"))
            }
        }
    }

    @Test
    fun `qr one-time password is computed offline and accepted`() {
        val (phone, _) = registeredPhone("2468")
        val created = rp("POST", "/v1/challenges/qr", JSONObject().put("user", "alice").put("service", "Statistics portal").put("action", "Sign in"))
        val prompt = phone.readQrOtp(created.getString("qr"))
        assertEquals("Statistics portal", prompt.service)
        assertFalse(prompt.isTransaction)
        val otp = phone.qrOtp(created.getString("qr"), null, "2468")
        assertTrue(Regex("[0-9]{8}").matches(otp), otp)
        val verified = rp("POST", "/v1/challenges/${created.getString("challenge_id")}/otp", JSONObject().put("otp", otp))
        assertEquals("approved", verified.getString("state"))
        assertFailsWith<NyckelException.InvalidInput> { phone.readQrOtp("nyckel://login?v=9") }
    }
}
