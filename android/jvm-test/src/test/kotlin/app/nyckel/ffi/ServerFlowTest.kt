package app.nyckel.ffi

import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
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
    private lateinit var dataDir: Path
    private lateinit var kekFile: Path
    private lateinit var server: Process
    private lateinit var baseUrl: String
    private lateinit var apiKey: String
    private val http = HttpClient.newHttpClient()
    private val serverBinary = System.getProperty("nyckel.server.bin")

    private fun admin(vararg args: String): String {
        val process = ProcessBuilder(serverBinary, "--data-dir", dataDir.toString(), *args)
            .apply {
                environment()["NYCKEL_USER_PASSWORD"] = "Correct-Horse-9"
                environment()["NYCKEL_KEK_FILE"] = kekFile.toString()
                environment()["NYCKEL_TENANT"] = "acme"
            }
            .redirectErrorStream(true)
            .start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0, output)
        return output.trim()
    }

    @BeforeEach
    fun startServer() {
        dataDir = Files.createTempDirectory("nyckel-server")
        // The key-encryption key lives outside the data directory, readable by its owner only.
        kekFile = Files.createTempDirectory("nyckel-kek").resolve("kek")
        admin("kek-create")
        admin("tenant", "add", "acme", "Acme Trade")
        admin("user", "add", "alice")
        apiKey = admin("rp", "add", "portal").lines().last()
        server = ProcessBuilder(serverBinary, "--data-dir", dataDir.toString(), "serve", "--listen", "127.0.0.1:0")
            .apply { environment()["NYCKEL_KEK_FILE"] = kekFile.toString() }
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        val firstLine = BufferedReader(InputStreamReader(server.inputStream)).readLine()
        assertNotNull(firstLine, "the server printed nothing")
        baseUrl = firstLine.removePrefix("listening on ").trim()
    }

    @AfterEach
    fun stopServer() {
        server.destroyForcibly().waitFor()
    }

    private fun rp(method: String, path: String, body: JSONObject? = null): JSONObject {
        val builder = HttpRequest.newBuilder(URI.create(baseUrl + path)).header("Authorization", "Bearer $apiKey")
        val request = if (body == null) builder.method(method, HttpRequest.BodyPublishers.noBody()) else
            builder.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body.toString()))
        val response = http.send(request.build(), HttpResponse.BodyHandlers.ofString())
        assertTrue(response.statusCode() in 200..299, "$method $path: ${response.statusCode()} ${response.body()}")
        return JSONObject(response.body())
    }

    private fun registeredPhone(pin: String): Pair<Nyckel, RegistrationInfo> {
        val started = rp("POST", "/v1/enrollments", JSONObject().put("user", "alice").put("device_name", "Kotlin phone"))
        val phone = Nyckel.open(Files.createTempDirectory("nyckel-phone").resolve("v").toString(), InMemoryKeyStore(), WallClock(), "JVM test")
        val registration = runBlocking { phone.register(started.getString("qr"), pin) }
        val status = rp("GET", "/v1/enrollments/${started.getString("enrollment_id")}?wait=0")
        assertEquals("completed", status.getString("state"))
        return phone to registration
    }

    private fun push(numberMatching: Boolean, lines: List<Pair<String, String>> = emptyList()): JSONObject {
        val body = JSONObject()
            .put("user", "alice")
            .put("context", JSONObject().put("service", "Trade portal").put("action", "Change payee").put("place", "Stockholm, SE"))
        if (lines.isNotEmpty()) body.put("transaction", JSONArray(lines.map { JSONObject().put("key", it.first).put("value", it.second) }))
        body.put("number_matching", if (numberMatching) "choose" else "none")
        return rp("POST", "/v1/challenges/push", body)
    }

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
