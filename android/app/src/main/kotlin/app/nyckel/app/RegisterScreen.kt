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

    Column(
        Modifier.fillMaxSize().padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text("Register this device", style = MaterialTheme.typography.headlineSmall)
        when (val state = work) {
            Work.Idle -> {
                NewPinPad(onChosen = { model.register(payload, it) })
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
