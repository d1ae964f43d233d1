package app.nyckel.app

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

/**
 * "Register this device": choose a PIN of 4+ digits, repeat it, and the core enrolls the phone.
 * The PIN is never stored nor sent; forgetting it means registering again.
 */
@Composable
fun RegisterScreen(model: NyckelViewModel, payload: String) {
    val work by model.registration.collectAsStateWithLifecycle()
    var first by remember { mutableStateOf<String?>(null) }
    var pin by remember { mutableStateOf("") }
    var mismatch by remember { mutableStateOf(false) }

    Column(
        Modifier.fillMaxSize().padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text("Register this device", style = MaterialTheme.typography.headlineSmall)
        when (val state = work) {
            Work.Idle -> {
                if (mismatch) Text("The PINs did not match. Choose one again.", color = MaterialTheme.colorScheme.error)
                PinPad(
                    title = if (first == null) "Choose a PIN of at least $MIN_PIN_LENGTH digits" else "Enter the same PIN again",
                    pin = pin,
                    onPinChange = { pin = it },
                    onDone = {
                        val chosen = first
                        when {
                            chosen == null -> {
                                first = pin
                                mismatch = false
                            }
                            chosen == pin -> model.register(payload, pin)
                            else -> {
                                first = null
                                mismatch = true
                            }
                        }
                        pin = ""
                    },
                )
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            }
            Work.Running -> {
                CircularProgressIndicator()
                Text("Registering…")
            }
            is Work.Done -> {
                Text("This device is registered for ${state.value.user} at ${state.value.organisation} (${state.value.serverHost}).")
                Text("Check that the browser shows the device code ${state.value.deviceFingerprint}.")
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            is Work.Failed -> {
                Text(state.message, color = MaterialTheme.colorScheme.error)
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
    }
}
