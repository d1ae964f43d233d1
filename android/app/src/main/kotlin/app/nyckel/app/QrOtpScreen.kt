package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.RadioButton
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
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.QrOtpRequest

/**
 * A scanned login or transaction code: what it is for and its exact details, the PIN, then
 * the 8-digit one-time password to type into the page. Works offline.
 */
@Composable
fun QrOtpScreen(model: NyckelViewModel, payload: String, request: QrOtpRequest) {
    val work by model.qrOtp.collectAsStateWithLifecycle()
    val notice by model.qrOtpNotice.collectAsStateWithLifecycle()
    val biometrics by model.biometrics.collectAsStateWithLifecycle()
    var pin by remember { mutableStateOf("") }
    // Usually one registration can answer; with several the user picks, else the core refuses.
    var registrationId by remember { mutableStateOf(request.registrations.singleOrNull()?.id) }

    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp),
    ) {
        Text(
            if (request.isTransaction) "Confirm a transaction" else "Sign in with a one-time password",
            style = MaterialTheme.typography.headlineSmall,
        )
        RequestContext(request.service, request.action, request.transaction)
        when (val state = work) {
            Work.Idle, Work.Running -> {
                if (request.registrations.size > 1) {
                    Text("Which registration?")
                    for (registration in request.registrations) {
                        Row(
                            Modifier.fillMaxWidth().selectable(
                                selected = registrationId == registration.id,
                                onClick = { registrationId = registration.id },
                            ),
                            verticalAlignment = Alignment.CenterVertically,
                        ) {
                            RadioButton(selected = registrationId == registration.id, onClick = null)
                            Text(registration.name)
                        }
                    }
                }
                if (state == Work.Running) CircularProgressIndicator()
                // A failed biometric attempt (cancelled, locked out, changed, unavailable): the PIN pad stays.
                notice?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                val chosen = registrationId
                if (chosen != null && biometrics[chosen] == true) {
                    Button(
                        onClick = { model.computeQrOtpWithBiometrics(payload, chosen) },
                        enabled = state == Work.Idle,
                    ) { Text("Use biometrics") }
                    Text("or", style = MaterialTheme.typography.bodySmall)
                }
                PinPad(
                    title = "Enter your PIN",
                    pin = pin,
                    onPinChange = { pin = it },
                    onDone = {
                        model.computeQrOtp(payload, registrationId, pin)
                        pin = ""
                    },
                    enabled = state == Work.Idle && registrationId != null,
                )
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            }
            is Work.Done -> {
                Text("Type this code into the page:")
                Text(
                    state.value.chunked(4).joinToString(" "),
                    style = MaterialTheme.typography.displayMedium,
                    fontFamily = FontFamily.Monospace,
                )
                Text(
                    "If the page does not accept it, the PIN was probably mistyped: scan again.",
                    style = MaterialTheme.typography.bodySmall,
                )
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            is Work.Failed -> {
                Text(state.message, color = MaterialTheme.colorScheme.error)
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
    }
}
