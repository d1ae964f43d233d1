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

/**
 * "Unlock with fingerprint/face" for one registration: the PIN once (the server checks it and
 * counts a wrong one like a wrong approval), then the system prompt seals the PIN's secret under
 * a key only a fingerprint or face opens. The PIN keeps working afterwards.
 */
@Composable
fun EnableBiometricsScreen(model: NyckelViewModel, registration: RegistrationInfo) {
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
        Text(registration.name, style = MaterialTheme.typography.bodyMedium)
        when (val state = work) {
            Work.Idle, Work.Running -> {
                Text(
                    "Approve sign-ins and make one-time passwords with your fingerprint or face. " +
                        "Your PIN keeps working. If the phone's fingerprints or faces change, this turns itself off.",
                    style = MaterialTheme.typography.bodySmall,
                )
                if (state == Work.Running) CircularProgressIndicator()
                PinPad(
                    title = "Enter your PIN once",
                    pin = pin,
                    onPinChange = { pin = it },
                    onDone = {
                        model.enableBiometrics(registration, pin)
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
