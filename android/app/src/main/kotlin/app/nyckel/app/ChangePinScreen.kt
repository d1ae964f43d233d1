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
 * "Change PIN" for one registration: the current PIN, then the new one twice, compared here so
 * a mistyped new PIN sends nothing. The server checks the current PIN and counts a wrong one
 * like a wrong approval; on any failure the old PIN stays in force.
 */
@Composable
fun ChangePinScreen(model: NyckelViewModel, registration: RegistrationInfo) {
    val work by model.pinChange.collectAsStateWithLifecycle()
    // The PINs typed so far live only here, and only until the call takes them.
    var current by remember { mutableStateOf<String?>(null) }
    var pin by remember { mutableStateOf("") }

    // Leaving mid-call would hide which PIN is now in force: back waits for the server's answer.
    BackHandler(enabled = work == Work.Running) {}

    Column(
        Modifier.fillMaxSize().padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text("Change PIN", style = MaterialTheme.typography.headlineSmall)
        Text(registration.name, style = MaterialTheme.typography.bodyMedium)
        when (val state = work) {
            Work.Idle, Work.Running -> {
                if (state == Work.Running) CircularProgressIndicator()
                val old = current
                if (old == null) {
                    PinPad(
                        title = "Enter your current PIN",
                        pin = pin,
                        onPinChange = { pin = it },
                        onDone = {
                            current = pin
                            pin = ""
                        },
                        enabled = state == Work.Idle,
                    )
                } else {
                    NewPinPad(
                        onChosen = { chosen ->
                            model.changePin(registration, old, chosen)
                            // The call has its own copies; a retry starts from the current PIN.
                            current = null
                        },
                        chooseTitle = "Choose a new PIN of at least $MIN_PIN_LENGTH digits",
                        repeatTitle = "Enter the new PIN again",
                        mismatchText = "The new PINs did not match. Choose one again.",
                        doneLabel = "Change",
                        enabled = state == Work.Idle,
                    )
                }
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }, enabled = state == Work.Idle) { Text("Cancel") }
            }
            is Work.Done -> {
                Text("The PIN of ${registration.name} is changed. Approve with the new PIN from now on.")
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            is Work.Failed -> {
                Text(state.message, color = MaterialTheme.colorScheme.error)
                if (state.retry) Button(onClick = model::retryChangePin) { Text("Try again") }
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
    }
}
