package app.nyckel.app

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
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
import app.nyckel.ffi.ImportFormat
import app.nyckel.ffi.ImportOutcome
import app.nyckel.ffi.ImportedEntry

/**
 * Imports another app's export: pick a file, see the format Nyckel recognised, give the password
 * when the file is encrypted, optionally all or nothing, then one line per entry: added, already
 * present, or refused with the reason.
 */
@Composable
fun ImportScreen(model: NyckelViewModel) {
    val state by model.import.collectAsStateWithLifecycle()
    var passphrase by remember { mutableStateOf("") }
    var allOrNothing by remember { mutableStateOf(false) }
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocument()) { uri ->
        if (uri != null) {
            passphrase = ""
            model.pickImportFile(uri)
        }
    }

    LazyColumn(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item {
            Row(verticalAlignment = Alignment.CenterVertically) {
                Text("Import from another app", Modifier.weight(1f), style = MaterialTheme.typography.titleLarge)
                TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
        item {
            Text(
                "Aegis, 2FAS, Bitwarden, andOTP, FreeOTP+, Ente, Proton Authenticator, or a list of otpauth:// links.",
                style = MaterialTheme.typography.bodySmall,
            )
        }
        item {
            OutlinedButton(onClick = { pick.launch(arrayOf("*/*")) }, enabled = state !is ImportState.Running) {
                Text("Choose file")
            }
        }
        val file = when (val s = state) {
            is ImportState.Ready -> s.file
            is ImportState.Running -> s.file
            is ImportState.Done -> s.file
            is ImportState.Failed -> s.file
            ImportState.Idle -> null
        }
        file?.let {
            item {
                // One child per lazy item: several would be drawn over each other.
                Column {
                    Text(it.name, style = MaterialTheme.typography.titleMedium)
                    Text(
                        it.format?.let { format -> "Format: ${formatName(format)}" } ?: "Nyckel does not recognise this file.",
                        style = MaterialTheme.typography.bodyMedium,
                        color = if (it.format == null) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface,
                    )
                }
            }
        }
        when (val s = state) {
            ImportState.Idle -> Unit
            is ImportState.Ready -> if (s.file.format != null) {
                item {
                    ImportForm(
                        needsPassphrase = s.needsPassphrase,
                        wrongPassphrase = s.wrongPassphrase,
                        passphrase = passphrase,
                        onPassphrase = { passphrase = it },
                        allOrNothing = allOrNothing,
                        onAllOrNothing = { allOrNothing = it },
                        onImport = { model.runImport(if (s.needsPassphrase) passphrase else null, allOrNothing) },
                    )
                }
            }
            is ImportState.Running -> item { CircularProgressIndicator() }
            is ImportState.Failed -> item { Text(s.message, color = MaterialTheme.colorScheme.error) }
            is ImportState.Done -> {
                item { Text(summary(s.entries), style = MaterialTheme.typography.titleMedium) }
                items(s.entries, key = { it.position.toLong() }) { entry -> EntryRow(entry) }
            }
        }
    }
}

@Composable
private fun ImportForm(
    needsPassphrase: Boolean,
    wrongPassphrase: Boolean,
    passphrase: String,
    onPassphrase: (String) -> Unit,
    allOrNothing: Boolean,
    onAllOrNothing: (Boolean) -> Unit,
    onImport: () -> Unit,
) {
    Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
        if (needsPassphrase) {
            Text(
                if (wrongPassphrase) "That password does not open the file." else "This file is encrypted: enter the password it was exported with.",
                color = if (wrongPassphrase) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface,
            )
            OutlinedTextField(
                value = passphrase,
                onValueChange = onPassphrase,
                label = { Text("Password") },
                singleLine = true,
                visualTransformation = PasswordVisualTransformation(),
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
                modifier = Modifier.fillMaxWidth(),
            )
        }
        Row(verticalAlignment = Alignment.CenterVertically) {
            Column(Modifier.weight(1f)) {
                Text("All or nothing")
                Text("If any entry is refused, add none of them.", style = MaterialTheme.typography.bodySmall)
            }
            Switch(checked = allOrNothing, onCheckedChange = onAllOrNothing)
        }
        Button(onClick = onImport, enabled = !needsPassphrase || passphrase.isNotEmpty()) { Text("Import") }
    }
}

@Composable
private fun EntryRow(entry: ImportedEntry) {
    val refused = entry.outcome == ImportOutcome.REFUSED
    Column {
        Text("${entry.position}. ${entry.label.ifEmpty { "(no name)" }}", style = MaterialTheme.typography.bodyMedium)
        Text(
            outcomeText(entry),
            style = MaterialTheme.typography.bodySmall,
            color = if (refused) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant,
        )
    }
}

/** One entry's result as the list shows it. */
fun outcomeText(entry: ImportedEntry): String = when (entry.outcome) {
    ImportOutcome.ADDED -> "Added"
    ImportOutcome.ALREADY_PRESENT -> "Already present"
    ImportOutcome.REFUSED -> "Refused: ${entry.reason ?: "no reason given"}"
    ImportOutcome.NOT_ADDED -> "Not added: another entry was refused (all or nothing)"
}

/** The counts of an import, first line of its results. */
fun summary(entries: List<ImportedEntry>): String {
    val added = entries.count { it.outcome == ImportOutcome.ADDED }
    val present = entries.count { it.outcome == ImportOutcome.ALREADY_PRESENT }
    val refused = entries.count { it.outcome == ImportOutcome.REFUSED }
    val notAdded = entries.count { it.outcome == ImportOutcome.NOT_ADDED }
    return buildString {
        append("$added added, $present already present, $refused refused")
        if (notAdded > 0) append(", $notAdded not added")
        append('.')
    }
}

/** The name of the app a format comes from. */
fun formatName(format: ImportFormat): String = when (format) {
    ImportFormat.AEGIS -> "Aegis"
    ImportFormat.TWO_FAS -> "2FAS"
    ImportFormat.BITWARDEN -> "Bitwarden"
    ImportFormat.AND_OTP -> "andOTP"
    ImportFormat.FREE_OTP_PLUS -> "FreeOTP+"
    ImportFormat.ENTE -> "Ente Auth"
    ImportFormat.PROTON -> "Proton Authenticator"
    ImportFormat.URIS -> "otpauth:// links"
}
