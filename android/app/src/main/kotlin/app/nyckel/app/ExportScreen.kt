package app.nyckel.app

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle

/** The shortest export password the screen accepts. */
const val MIN_EXPORT_PASSWORD = 8

/**
 * Exports every account as an Aegis vault file, encrypted under a password asked twice, or
 * plain only after the user turns encryption off and is told the secrets are then in clear.
 */
@Composable
fun ExportScreen(model: NyckelViewModel) {
    val state by model.export.collectAsStateWithLifecycle()
    var encrypt by remember { mutableStateOf(true) }
    var password by remember { mutableStateOf("") }
    var again by remember { mutableStateOf("") }
    val save = rememberLauncherForActivityResult(ActivityResultContracts.CreateDocument("application/json")) { uri ->
        if (uri != null) model.exportAegis(uri, if (encrypt) password else null)
    }
    val ready = !encrypt || (password.length >= MIN_EXPORT_PASSWORD && password == again)

    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text("Export to Aegis", Modifier.weight(1f), style = MaterialTheme.typography.titleLarge)
            TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
        }
        Text("Every account, in a file Aegis (and Nyckel) can import. Registrations with servers are not exported.")
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text("Encrypt with a password", Modifier.weight(1f))
            Switch(checked = encrypt, onCheckedChange = { encrypt = it })
        }
        if (encrypt) {
            PasswordField("Password (at least $MIN_EXPORT_PASSWORD characters)", password) { password = it }
            PasswordField("Password again", again) { again = it }
            if (again.isNotEmpty() && again != password) Text("The passwords differ.", color = MaterialTheme.colorScheme.error)
        } else {
            Text(
                "Without a password the file holds every secret in clear: anyone who reads it can make your codes.",
                color = MaterialTheme.colorScheme.error,
            )
        }
        Button(onClick = { save.launch("nyckel-aegis.json") }, enabled = ready && state != Work.Running) { Text("Save file") }
        when (val s = state) {
            Work.Idle -> Unit
            Work.Running -> CircularProgressIndicator()
            is Work.Failed -> Text(s.message, color = MaterialTheme.colorScheme.error)
            is Work.Done -> Text(s.value, color = MaterialTheme.colorScheme.primary)
        }
    }
}

@Composable
private fun PasswordField(label: String, value: String, onChange: (String) -> Unit) {
    OutlinedTextField(
        value = value,
        onValueChange = onChange,
        label = { Text(label) },
        singleLine = true,
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
        modifier = Modifier.fillMaxWidth(),
    )
}
