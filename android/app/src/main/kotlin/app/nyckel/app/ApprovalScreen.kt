package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableLongStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.ApprovalRequest
import app.nyckel.ffi.DetailLine
import app.nyckel.ffi.NumberChoice
import app.nyckel.ffi.PinCheck
import app.nyckel.ffi.Provider
import app.nyckel.ffi.localGateNotice
import kotlinx.coroutines.delay

/**
 * A pushed request: who asks, for what, from where and when, the transaction's exact lines,
 * number matching; Continue asks the PIN. Deny and "Not me" need no PIN, so refusing is easy.
 */
@Composable
fun ApprovalScreen(model: NyckelViewModel, request: ApprovalRequest) {
    val answering by model.answering.collectAsStateWithLifecycle()
    val answerError by model.answerError.collectAsStateWithLifecycle()
    val error = answerError?.takeIf { it.challengeId == request.challengeId }?.message
    var number by remember { mutableStateOf("") }
    var askingPin by remember { mutableStateOf(false) }
    var pin by remember { mutableStateOf("") }
    var secondsLeft by remember { mutableLongStateOf(request.expiresAt.toLong() - nowSeconds()) }
    val biometrics by model.biometrics.collectAsStateWithLifecycle()
    val biometricsOn = biometrics[request.registrationId] == true
    // A request to add a new phone reads from the vault once; it replaces the sign-in details.
    val newDevice = remember(request.challengeId) { model.newDeviceFor(request) }

    // The biometric path failed (cancelled, locked out, changed, unavailable): the PIN pad takes over.
    LaunchedEffect(answerError) {
        if (answerError?.let { it.challengeId == request.challengeId && it.usePin } == true) askingPin = true
    }

    LaunchedEffect(request.challengeId) {
        while (secondsLeft > 0) {
            delay(1_000)
            secondsLeft = request.expiresAt.toLong() - nowSeconds()
        }
        model.refreshApprovals()
    }

    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(16.dp),
    ) {
        if (newDevice != null) {
            Text("Add a new phone?", style = MaterialTheme.typography.headlineSmall)
            NewDeviceCard(newDevice)
        } else {
            Text(
                if (request.transaction.isEmpty()) "Approve sign-in?" else "Confirm this change?",
                style = MaterialTheme.typography.headlineSmall,
            )
        }
        if (newDevice == null) RequestContext(
            service = request.service,
            action = request.action,
            transaction = request.transaction,
            browser = request.browser,
            ip = request.ip,
            place = request.place,
            time = request.time?.let(::formatTime),
        )
        val left = secondsLeft.coerceAtLeast(0)
        Text(
            "For ${request.registrationName} · expires in ${left / 60}:${"%02d".format(left % 60)}",
            style = MaterialTheme.typography.bodySmall,
        )
        // privacyIDEA and tiqr requests arrive in the same list: say whose server sent them.
        when (request.provider) {
            Provider.PRIVACY_IDEA -> Text("privacyIDEA push · ${request.serverHost}", style = MaterialTheme.typography.bodySmall)
            Provider.TIQR -> Text("tiqr · ${request.serverHost}", style = MaterialTheme.typography.bodySmall)
            Provider.NYCKEL -> {}
        }
        if (request.pinCheck == PinCheck.LOCAL_GATE) Text(localGateNotice(), style = MaterialTheme.typography.bodySmall)
        error?.let { Text(it, color = MaterialTheme.colorScheme.error) }

        val choice = request.numberChoice
        val numberReady = when (choice) {
            null -> true
            is NumberChoice.Choose -> number in choice.choices
            is NumberChoice.Type -> number.length == choice.digits.toInt()
        }
        if (answering) {
            CircularProgressIndicator(Modifier.align(Alignment.CenterHorizontally))
        } else if (askingPin) {
            PinPad(
                title = if (request.pinCheck == PinCheck.LOCAL_GATE) "Enter the app PIN (checked on this phone only)" else "Enter your PIN to approve",
                pin = pin,
                onPinChange = { pin = it },
                onDone = {
                    model.approve(request, pin, number.takeIf { choice != null })
                    pin = ""
                },
                modifier = Modifier.align(Alignment.CenterHorizontally),
                doneLabel = "Approve",
            )
            TextButton(onClick = { askingPin = false }, modifier = Modifier.align(Alignment.CenterHorizontally)) { Text("Back") }
        } else {
            NumberMatching(choice, number) { number = it }
            val ready = numberReady && secondsLeft > 0
            if (biometricsOn) {
                Button(
                    onClick = { model.approveWithBiometrics(request, number.takeIf { choice != null }) },
                    modifier = Modifier.fillMaxWidth(),
                    enabled = ready,
                ) { Text("Use biometrics") }
                OutlinedButton(onClick = { askingPin = true }, modifier = Modifier.fillMaxWidth(), enabled = ready) {
                    Text("Use PIN")
                }
            } else if (request.pinCheck == PinCheck.NONE) {
                // A privacyIDEA token without an app PIN: nothing to ask.
                Button(
                    onClick = { model.approve(request, "", number.takeIf { choice != null }) },
                    modifier = Modifier.fillMaxWidth(),
                    enabled = ready,
                ) { Text("Approve") }
            } else {
                Button(onClick = { askingPin = true }, modifier = Modifier.fillMaxWidth(), enabled = ready) {
                    Text("Continue")
                }
            }
            OutlinedButton(onClick = { model.deny(request) }, modifier = Modifier.fillMaxWidth()) { Text("Deny") }
            TextButton(onClick = { model.reportFraud(request) }, modifier = Modifier.fillMaxWidth()) {
                Text("Not me: deny and report", color = MaterialTheme.colorScheme.error)
            }
        }
    }
}

/** The number the browser shows: tap it among the choices, or type it. */
@Composable
private fun NumberMatching(choice: NumberChoice?, number: String, onNumber: (String) -> Unit) {
    when (choice) {
        null -> Unit
        is NumberChoice.Choose -> {
            Text("Tap the number shown in your browser")
            Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                for (candidate in choice.choices) {
                    val style = MaterialTheme.typography.headlineSmall
                    if (candidate == number) {
                        Button(onClick = { onNumber(candidate) }) { Text(candidate, style = style) }
                    } else {
                        OutlinedButton(onClick = { onNumber(candidate) }) { Text(candidate, style = style) }
                    }
                }
            }
        }
        is NumberChoice.Type -> OutlinedTextField(
            value = number,
            onValueChange = { typed -> onNumber(typed.filter(Char::isDigit).take(choice.digits.toInt())) },
            label = { Text("Number shown in your browser") },
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
            singleLine = true,
        )
    }
}

/** What a request is for: service, action, where and when it came from, and the transaction lines verbatim. */
@Composable
fun RequestContext(
    service: String,
    action: String,
    transaction: List<DetailLine>,
    browser: String? = null,
    ip: String? = null,
    place: String? = null,
    time: String? = null,
) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            Text(service, style = MaterialTheme.typography.titleLarge)
            Text(action, style = MaterialTheme.typography.titleMedium)
            browser?.let { Field("Browser", it) }
            ip?.let { Field("IP address", it) }
            place?.let { Field("Place", it) }
            time?.let { Field("Time", it) }
        }
    }
    if (transaction.isNotEmpty()) {
        Card(Modifier.fillMaxWidth()) {
            Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                // Shown exactly as received: the answer is bound to these bytes, so no trimming or reformatting.
                for (line in transaction) {
                    Text(line.key, style = MaterialTheme.typography.labelLarge)
                    Text(line.value, fontFamily = FontFamily.Monospace, fontWeight = FontWeight.Medium)
                }
            }
        }
    }
}

@Composable
private fun Field(label: String, value: String) {
    Row {
        Text("$label: ", style = MaterialTheme.typography.bodyMedium, fontWeight = FontWeight.Medium)
        Text(value, style = MaterialTheme.typography.bodyMedium)
    }
}

private fun nowSeconds(): Long = System.currentTimeMillis() / 1000
