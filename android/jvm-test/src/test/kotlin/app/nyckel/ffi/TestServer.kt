package app.nyckel.ffi

import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

/**
 * A real `nyckel-server` on 127.0.0.1 for one test: its own data directory and KEK, tenant
 * "acme", user "alice", relying party "portal"; plus the relying party's calls and a registered phone.
 */
class TestServer {
    private lateinit var dataDir: Path
    private lateinit var kekFile: Path
    private lateinit var server: Process
    lateinit var baseUrl: String
        private set
    private lateinit var apiKey: String
    private val http = HttpClient.newHttpClient()
    private val serverBinary = System.getProperty("nyckel.server.bin")

    private fun admin(vararg args: String): String {
        val process = ProcessBuilder(serverBinary, "--data-dir", dataDir.toString(), *args)
            .apply {
                environment()["NYCKEL_KEK_FILE"] = kekFile.toString()
                environment()["NYCKEL_TENANT"] = "acme"
            }
            .redirectErrorStream(true)
            .start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0, output)
        return output.trim()
    }

    /** Creates the data, starts the server and waits for its address. */
    fun start() {
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

    fun stop() {
        server.destroyForcibly().waitFor()
    }

    /** A relying-party call with the API key; fails the test on a non-2xx answer. */
    fun rp(method: String, path: String, body: JSONObject? = null): JSONObject {
        val builder = HttpRequest.newBuilder(URI.create(baseUrl + path)).header("Authorization", "Bearer $apiKey")
        val request = if (body == null) builder.method(method, HttpRequest.BodyPublishers.noBody()) else
            builder.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body.toString()))
        val response = http.send(request.build(), HttpResponse.BodyHandlers.ofString())
        assertTrue(response.statusCode() in 200..299, "$method $path: ${response.statusCode()} ${response.body()}")
        return JSONObject(response.body())
    }

    /** A new phone (fresh vault) registered for alice with `pin`. */
    fun registeredPhone(pin: String): Pair<Nyckel, RegistrationInfo> {
        val started = rp("POST", "/v1/enrollments", JSONObject().put("user", "alice").put("device_name", "Kotlin phone"))
        val phone = Nyckel.open(Files.createTempDirectory("nyckel-phone").resolve("v").toString(), InMemoryKeyStore(), WallClock(), "JVM test")
        val registration = runBlocking { phone.register(started.getString("qr"), pin) }
        val status = rp("GET", "/v1/enrollments/${started.getString("enrollment_id")}?wait=0")
        assertEquals("completed", status.getString("state"))
        return phone to registration
    }

    /** A push challenge for alice from "Trade portal", action "Change payee". */
    fun push(numberMatching: Boolean, lines: List<Pair<String, String>> = emptyList()): JSONObject {
        val body = JSONObject()
            .put("user", "alice")
            .put("context", JSONObject().put("service", "Trade portal").put("action", "Change payee").put("place", "Stockholm, SE"))
        if (lines.isNotEmpty()) body.put("transaction", JSONArray(lines.map { JSONObject().put("key", it.first).put("value", it.second) }))
        body.put("number_matching", if (numberMatching) "choose" else "none")
        return rp("POST", "/v1/challenges/push", body)
    }
}

/**
 * The live privacyIDEA 3.14 that scripts/privacyidea/start.sh starts (scripts/test.sh exports
 * its NYCKEL_PRIVACYIDEA_* variables, which Maven's test JVM inherits): the admin API plays the
 * login page. [connect] returns null, loudly, when no server is configured — unless
 * NYCKEL_PRIVACYIDEA_REQUIRED is set, which makes that a failure (the rule of
 * core/tests/privacyidea.rs).
 */
class PrivacyIdeaServer private constructor(val url: String, private val auth: String) {
    private val http = HttpClient.newHttpClient()

    companion object {
        private fun form(fields: List<Pair<String, String>>) =
            fields.joinToString("&") { (k, v) -> "${java.net.URLEncoder.encode(k, "UTF-8")}=${java.net.URLEncoder.encode(v, "UTF-8")}" }

        fun connect(): PrivacyIdeaServer? {
            val url = System.getenv("NYCKEL_PRIVACYIDEA_URL")
            if (url == null) {
                assertTrue(System.getenv("NYCKEL_PRIVACYIDEA_REQUIRED") == null,
                    "NYCKEL_PRIVACYIDEA_REQUIRED is set but NYCKEL_PRIVACYIDEA_URL is not: start privacyIDEA first")
                System.err.println("\n!!!!! SKIPPED: no live privacyIDEA (NYCKEL_PRIVACYIDEA_URL unset). Run scripts/test.sh.\n")
                return null
            }
            val body = form(listOf("username" to System.getenv("NYCKEL_PRIVACYIDEA_ADMIN"), "password" to System.getenv("NYCKEL_PRIVACYIDEA_PASSWORD")))
            val request = HttpRequest.newBuilder(URI.create("$url/auth"))
                .header("Content-Type", "application/x-www-form-urlencoded").POST(HttpRequest.BodyPublishers.ofString(body)).build()
            val response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString())
            val token = JSONObject(response.body()).getJSONObject("result").getJSONObject("value").getString("token")
            return PrivacyIdeaServer(url, token)
        }
    }

    val host: String get() = url.removePrefix("http://")

    fun post(path: String, vararg fields: Pair<String, String>): JSONObject {
        val request = HttpRequest.newBuilder(URI.create(url + path)).header("Authorization", auth)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(form(fields.toList()))).build()
        return JSONObject(http.send(request, HttpResponse.BodyHandlers.ofString()).body())
    }

    fun get(path: String, vararg fields: Pair<String, String>): JSONObject {
        val request = HttpRequest.newBuilder(URI.create(url + path + "?" + form(fields.toList()))).header("Authorization", auth).GET().build()
        return JSONObject(http.send(request, HttpResponse.BodyHandlers.ofString()).body())
    }

    /** A token of `type` for `user`: its serial and the QR content under `key`. */
    fun init(type: String, user: String, key: String): Pair<String, String> {
        val fields = mutableListOf("type" to type, "user" to user, "realm" to "realm1")
        if (type != "tiqr") fields += "genkey" to "1"
        val detail = post("/token/init", *fields.toTypedArray()).getJSONObject("detail")
        return detail.getString("serial") to detail.getJSONObject(key).getString("value")
    }

    /** Starts a login for `serial` (the login page's triggerchallenge): transaction and challenge entry. */
    fun trigger(user: String, serial: String): Pair<String, JSONObject> {
        val detail = post("/validate/triggerchallenge", "user" to user, "realm" to "realm1", "serial" to serial).getJSONObject("detail")
        return detail.getString("transaction_id") to detail.getJSONArray("multi_challenge").getJSONObject(0)
    }

    /** The login page's view of a transaction: accept, declined, cancelled or pending. */
    fun status(transaction: String): String =
        get("/validate/polltransaction", "transaction_id" to transaction).getJSONObject("detail").getString("challenge_status")

    fun failcount(serial: String): Int =
        get("/token/", "serial" to serial).getJSONObject("result").getJSONObject("value").getJSONArray("tokens").getJSONObject(0).getInt("failcount")

    /** A phone with a fresh vault. */
    fun phone(): Nyckel =
        Nyckel.open(Files.createTempDirectory("nyckel-phone").resolve("v").toString(), InMemoryKeyStore(), WallClock(), "JVM test")
}
