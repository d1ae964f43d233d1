package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.PinCheck
import app.nyckel.ffi.TokenInfo
import app.nyckel.ffi.localGateNotice

/**
 * "Add token" for a scanned privacyIDEA push or tiqr enrolment code: names the server the code
 * points at, then asks the PIN — for push an optional app PIN (a gate on this phone only, required
 * when the code demands one), for tiqr the tiqr PIN the server checks — chosen twice, and enrolls.
 */
@Composable
fun AddTokenScreen(model: NyckelViewModel, payload: String, tiqr: Boolean) {
    val state by model.tokenEnroll.collectAsStateWithLifecycle()
    val info = remember(payload) { tokenCodeInfo(payload) }
    // Push only: the user chose to set an app PIN (or the code demands one).
    var choosingPin by remember { mutableStateOf(false) }

    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp),
    ) {
        Text(if (tiqr) "Add tiqr token" else "Add privacyIDEA push token", style = MaterialTheme.typography.headlineSmall)
        info.issuer?.let { Text(it, style = MaterialTheme.typography.titleMedium) }
        Text("Server: ${info.host ?: "unknown"}", style = MaterialTheme.typography.bodyMedium)
        Text("As the QR code says; only add it if you started this at that server.", style = MaterialTheme.typography.bodySmall)
        when (val current = state) {
            is TokenEnrollState.Idle -> if (tiqr) {
                Text("The tiqr PIN is checked by the server: a wrong one counts there.", style = MaterialTheme.typography.bodySmall)
                NewPinPad(onChosen = { model.enrollToken(payload, it) }, chooseTitle = "Choose your tiqr PIN")
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            } else if (choosingPin || current.pinRequired) {
                if (current.pinRequired) Text("This token requires an app PIN.", color = MaterialTheme.colorScheme.error)
                Text(localGateNotice(), style = MaterialTheme.typography.bodySmall)
                NewPinPad(onChosen = { model.enrollToken(payload, it) }, chooseTitle = "Choose an app PIN")
                if (!current.pinRequired) TextButton(onClick = { choosingPin = false }) { Text("Back") }
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            } else {
                Text("An app PIN is optional. ${localGateNotice()}", style = MaterialTheme.typography.bodySmall)
                Button(onClick = { model.enrollToken(payload, null) }) { Text("Add without app PIN") }
                OutlinedButton(onClick = { choosingPin = true }) { Text("Set an app PIN") }
                TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            }
            TokenEnrollState.Running -> {
                CircularProgressIndicator()
                Text("Adding…")
            }
            is TokenEnrollState.Done -> {
                TokenSummary(current.token)
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            is TokenEnrollState.Failed -> {
                Text(current.message, color = MaterialTheme.colorScheme.error)
                Text("Nothing was stored on this phone.", style = MaterialTheme.typography.bodySmall)
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
    }
}

@Composable
private fun TokenSummary(token: TokenInfo) {
    Text("Added ${token.service.ifEmpty { token.serverHost }}.", style = MaterialTheme.typography.titleMedium)
    Text("Server: ${token.serverHost}")
    if (token.account.isNotEmpty()) Text("Account: ${token.account}")
    if (token.serial.isNotEmpty()) Text("Serial: ${token.serial}")
    Text(
        when (token.pinCheck) {
            PinCheck.NONE -> "Requests are approved without a PIN."
            PinCheck.LOCAL_GATE -> "Requests ask the app PIN. ${localGateNotice()}"
            PinCheck.SERVER -> "Requests ask the tiqr PIN, which the server checks."
        },
        style = MaterialTheme.typography.bodySmall,
    )
}
