package app.nyckel.app

import androidx.activity.compose.BackHandler
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.RegistrationInfo
import app.nyckel.ffi.TokenInfo
import app.nyckel.ffi.localGateNotice

/**
 * "Unlock with fingerprint/face" for one registration: the PIN once (the server checks it and
 * counts a wrong one like a wrong approval), then the system prompt seals the PIN's secret under
 * a key only a fingerprint or face opens. The PIN keeps working afterwards.
 */
@Composable
fun EnableBiometricsScreen(model: NyckelViewModel, registration: RegistrationInfo) =
    BiometricSetup(
        model = model,
        name = registration.name,
        explanation = "Approve sign-ins and make one-time passwords with your fingerprint or face. " +
            "Your PIN keeps working. If the phone's fingerprints or faces change, this turns itself off.",
        pinTitle = "Enter your PIN once",
        onPin = { model.enableBiometrics(registration, it) },
    )

/**
 * "Unlock with fingerprint/face" for a privacyIDEA push token with an app PIN: the app PIN once
 * (checked on this phone; a wrong one counts toward its lock), then the system prompt. Like the
 * app PIN it opens a gate on this phone only; the app PIN keeps working.
 */
@Composable
fun EnableTokenBiometricsScreen(model: NyckelViewModel, token: TokenInfo) =
    BiometricSetup(
        model = model,
        name = "${token.service.ifEmpty { token.serverHost }} (privacyIDEA push)",
        explanation = "Approve this token's requests with your fingerprint or face instead of the app PIN, " +
            "which keeps working. ${localGateNotice()}",
        pinTitle = "Enter the app PIN once",
        onPin = { model.enableTokenBiometrics(token, it) },
    )

@Composable
private fun BiometricSetup(
    model: NyckelViewModel,
    name: String,
    explanation: String,
    pinTitle: String,
    onPin: (String) -> Unit,
) {
    val work by model.biometricSetup.collectAsStateWithLifecycle()
    var pin by remember { mutableStateOf("") }

    // Leaving while the prompt is up would hide whether it was turned on: back waits.
    BackHandler(enabled = work == Work.Running) {}

    Column(
        Modifier.fillMaxSize().padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text("Unlock with fingerprint/face", style = MaterialTheme.typography.headlineSmall)
        Text(name, style = MaterialTheme.typography.bodyMedium)
        when (val state = work) {
            Work.Idle, Work.Running -> {
                Text(explanation, style = MaterialTheme.typography.bodySmall)
                if (state == Work.Running) CircularProgressIndicator()
                PinPad(
                    title = pinTitle,
                    pin = pin,
                    onPinChange = { pin = it },
                    onDone = {
                        onPin(pin)
                        pin = ""
                    },
                    enabled = state == Work.Idle,
                    doneLabel = "Next",
                )
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }, enabled = state == Work.Idle) { Text("Cancel") }
            }
            is Work.Done -> {
                Text("Fingerprint/face unlock is on.")
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            is Work.Failed -> {
                Text(state.message, color = MaterialTheme.colorScheme.error)
                if (state.retry) {
                    Button(onClick = model::retryEnableBiometrics) { Text("Try again") }
                }
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
    }
}
