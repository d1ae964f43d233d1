package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.HistoryCheck
import app.nyckel.ffi.HistoryEntry
import app.nyckel.ffi.RegistrationInfo

/**
 * What this phone answered, newest first: when, service, action, the decision, the server's
 * result and whether its signed receipt is kept; per registration, a check of the chain against
 * the server's audit. One-time passwords and MACs are never in the history.
 */
@Composable
fun HistoryScreen(model: NyckelViewModel) {
    val history by model.history.collectAsStateWithLifecycle()
    val registrations by model.registrations.collectAsStateWithLifecycle()
    val checks by model.historyChecks.collectAsStateWithLifecycle()

    LazyColumn(Modifier.padding(vertical = 16.dp)) {
        item {
            Row(Modifier.padding(horizontal = 16.dp), verticalAlignment = Alignment.CenterVertically) {
                Text("History", Modifier.weight(1f), style = MaterialTheme.typography.titleLarge)
                TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
        }
        items(registrations, key = { "check-" + it.id }) { registration ->
            CheckRow(registration, checks[registration.id]) { model.checkHistory(registration.id) }
        }
        item { HorizontalDivider(Modifier.padding(vertical = 8.dp)) }
        when (val current = history) {
            Work.Idle, Work.Running -> item { CircularProgressIndicator(Modifier.padding(16.dp)) }
            is Work.Failed -> item { Text(current.message, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.error) }
            is Work.Done -> {
                if (current.value.isEmpty()) {
                    item { Text("Nothing answered yet.", Modifier.padding(16.dp)) }
                }
                items(current.value, key = { it.seq.toLong() }) { entry -> HistoryRow(entry) }
            }
        }
    }
}

@Composable
private fun CheckRow(registration: RegistrationInfo, check: Work<HistoryCheck>?, onCheck: () -> Unit) {
    Column(Modifier.padding(horizontal = 16.dp, vertical = 4.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(registration.name, Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
            OutlinedButton(onClick = onCheck, enabled = check != Work.Running) { Text("Check with server") }
        }
        when (check) {
            null, Work.Idle -> Unit
            Work.Running -> Text("Checking…", style = MaterialTheme.typography.bodySmall)
            is Work.Failed -> Text(check.message, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
            is Work.Done -> CheckResult(check.value)
        }
    }
}

@Composable
private fun CheckResult(check: HistoryCheck) {
    if (check.agrees) {
        Text(
            "Agrees: ${check.entries} entries, ${check.auditEvents} server events, chain intact.",
            color = MaterialTheme.colorScheme.primary,
            style = MaterialTheme.typography.bodySmall,
        )
        return
    }
    Text("Does not agree with the server:", color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
    (check.chainFindings + check.disagreements).forEach {
        Text("• $it", color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
    }
}

@Composable
private fun HistoryRow(entry: HistoryEntry) {
    Column(Modifier.padding(horizontal = 16.dp, vertical = 8.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
        Row {
            Text(entry.service.ifEmpty { entry.server }, Modifier.weight(1f), style = MaterialTheme.typography.titleSmall)
            Text(formatTime(entry.at), style = MaterialTheme.typography.bodySmall)
        }
        Text(entry.action, style = MaterialTheme.typography.bodyMedium)
        Text(
            "${decisionText(entry)} · ${resultText(entry.result)} · ${receiptText(entry)}",
            style = MaterialTheme.typography.bodySmall,
            color = if (entry.receiptRefused) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant,
        )
        Text(entry.server, style = MaterialTheme.typography.labelSmall)
    }
}

/** The decision as the user took it; a QR one-time password is always "code given". */
fun decisionText(entry: HistoryEntry): String = when {
    entry.isQrOtp -> "Code given"
    entry.decision == "approve" -> "Approved"
    entry.decision == "deny" -> "Denied"
    entry.decision == "fraud" -> "Reported as not me"
    else -> entry.decision
}

/** The server's answer as the history stored it. */
fun resultText(result: String): String = when {
    result == "approved" -> "server: approved"
    result == "denied" -> "server: denied"
    result == "offline" -> "offline"
    result == "unknown" -> "server: no answer"
    result.startsWith("error:") -> "server refused (${result.removePrefix("error:")})"
    else -> "server: $result"
}

/** Whether the server's signed receipt for this entry is kept. */
fun receiptText(entry: HistoryEntry): String = when {
    entry.receiptRefused -> "receipt did not verify"
    entry.hasReceipt -> "signed receipt"
    else -> "no receipt"
}
