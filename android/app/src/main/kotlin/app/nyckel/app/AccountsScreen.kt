package app.nyckel.app

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ExtendedFloatingActionButton
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.CodeInfo
import app.nyckel.ffi.OtpType
import app.nyckel.ffi.PinCheck
import app.nyckel.ffi.Provider
import app.nyckel.ffi.RegistrationInfo
import app.nyckel.ffi.TokenInfo
import kotlinx.coroutines.delay

/**
 * The main screen: registrations with Nyckel servers, privacyIDEA push and tiqr tokens (Remove
 * asks first), then accounts with live codes and a countdown. Scanning adds accounts, registers
 * the phone, adds a token, or answers a login QR code (a tiqr login goes to the approval screen).
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun AccountsScreen(model: NyckelViewModel) {
    val registrations by model.registrations.collectAsStateWithLifecycle()
    val notice by model.notice.collectAsStateWithLifecycle()
    val pollingError by model.pollingError.collectAsStateWithLifecycle()
    val biometrics by model.biometrics.collectAsStateWithLifecycle()
    var codes by remember { mutableStateOf(emptyList<CodeInfo>()) }
    // currentCodes() leaves HOTP codes empty: a revealed one is kept here until deleted.
    var hotpCodes by remember { mutableStateOf(emptyMap<ULong, String>()) }
    var removing by remember { mutableStateOf<RegistrationInfo?>(null) }
    val tokens by model.tokens.collectAsStateWithLifecycle()
    var removingToken by remember { mutableStateOf<TokenInfo?>(null) }

    LaunchedEffect(Unit) {
        while (true) {
            codes = model.currentCodes()
            delay(1_000)
        }
    }

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text("Nyckel") },
                actions = {
                    TextButton(onClick = model::openHistory) { Text("History") }
                    TextButton(onClick = model::openImport) { Text("Import") }
                    TextButton(onClick = model::openExport) { Text("Export") }
                    TextButton(onClick = model::openNewPhone) { Text("From other phone") }
                },
            )
        },
        floatingActionButton = {
            ExtendedFloatingActionButton(onClick = { model.navigate(Route.Scanner) }) { Text("Scan QR code") }
        },
    ) { padding ->
        LazyColumn(Modifier.padding(padding)) {
            notice?.let { text ->
                item {
                    Text(
                        text,
                        Modifier.clickable(onClick = model::dismissNotice).padding(16.dp),
                        color = MaterialTheme.colorScheme.primary,
                    )
                }
            }
            if (registrations.isNotEmpty()) {
                item { SectionTitle("Registered with") }
                pollingError?.let { item { Text(it, Modifier.padding(horizontal = 16.dp), style = MaterialTheme.typography.bodySmall) } }
                items(registrations, key = { it.id }) { registration ->
                    Row(Modifier.padding(horizontal = 16.dp, vertical = 8.dp), verticalAlignment = Alignment.CenterVertically) {
                        Column(Modifier.weight(1f)) {
                            // The name is built from signed facts (user, organisation, host); the
                            // QR label is unsigned and only ever shown below it.
                            Text(registration.name, style = MaterialTheme.typography.titleMedium)
                            registration.label?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                            Text("Device ${registration.deviceFingerprint}", style = MaterialTheme.typography.bodySmall)
                        }
                        TextButton(onClick = { model.openChangePin(registration) }) { Text("Change PIN") }
                        TextButton(onClick = { removing = registration }) { Text("Remove") }
                    }
                    Row(Modifier.padding(horizontal = 8.dp)) {
                        TextButton(onClick = { model.openAddPhone(registration) }) { Text("Add a phone") }
                        TextButton(onClick = { model.openDevices(registration) }) { Text("My devices") }
                    }
                    Row(Modifier.padding(start = 16.dp, end = 16.dp, bottom = 8.dp), verticalAlignment = Alignment.CenterVertically) {
                        Text("Unlock with fingerprint/face", Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
                        // On asks the PIN once (its own screen); off needs nothing and keeps the PIN.
                        Switch(
                            checked = biometrics[registration.id] == true,
                            onCheckedChange = { on ->
                                if (on) model.openEnableBiometrics(registration) else model.disableBiometrics(registration)
                            },
                        )
                    }
                }
                item { HorizontalDivider() }
            } else {
                item {
                    Text(
                        "To register this device, scan the QR code your service shows under \"Add a mobile device\".",
                        Modifier.padding(16.dp),
                        style = MaterialTheme.typography.bodyMedium,
                    )
                }
                item {
                    TextButton(onClick = model::openNewPhone, modifier = Modifier.padding(horizontal = 8.dp)) {
                        Text("Register from my other phone")
                    }
                }
            }
            if (tokens.isNotEmpty()) {
                item { SectionTitle("privacyIDEA and tiqr tokens") }
                items(tokens, key = { it.id }) { token ->
                    Row(Modifier.padding(horizontal = 16.dp, vertical = 8.dp), verticalAlignment = Alignment.CenterVertically) {
                        Column(Modifier.weight(1f)) {
                            Text(token.service.ifEmpty { token.serverHost }, style = MaterialTheme.typography.titleMedium)
                            Text(
                                (if (token.provider == Provider.TIQR) "tiqr" else "privacyIDEA push") + " · ${token.serverHost}",
                                style = MaterialTheme.typography.bodySmall,
                            )
                            val who = listOf(token.account, token.serial).filter { it.isNotEmpty() }.joinToString(" · ")
                            if (who.isNotEmpty()) Text(who, style = MaterialTheme.typography.bodySmall)
                        }
                        TextButton(onClick = { removingToken = token }) { Text("Remove") }
                    }
                    if (token.pinCheck == PinCheck.LOCAL_GATE) {
                        Row(Modifier.padding(start = 16.dp, end = 16.dp, bottom = 8.dp), verticalAlignment = Alignment.CenterVertically) {
                            Text("Unlock app PIN with fingerprint/face", Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
                            Switch(
                                checked = biometrics[token.id] == true,
                                onCheckedChange = { on ->
                                    if (on) model.openEnableTokenBiometrics(token) else model.disableTokenBiometrics(token)
                                },
                            )
                        }
                    }
                }
                item { HorizontalDivider() }
            }
            item { SectionTitle("Accounts") }
            items(codes, key = { it.account.id.toLong() }) { entry ->
                CodeRow(entry, hotpCodes[entry.account.id]) {
                    model.nextHotpCode(entry.account.id)?.let { hotpCodes = hotpCodes + (entry.account.id to it) }
                }
            }
        }
    }

    removing?.let { registration ->
        AlertDialog(
            onDismissRequest = { removing = null },
            title = { Text("Remove ${registration.name}?") },
            text = { Text("This phone will no longer approve sign-ins for it. You can register it again later.") },
            confirmButton = {
                TextButton(onClick = {
                    removing = null
                    model.unregister(registration)
                }) { Text("Remove") }
            },
            dismissButton = { TextButton(onClick = { removing = null }) { Text("Cancel") } },
        )
    }

    removingToken?.let { token ->
        AlertDialog(
            onDismissRequest = { removingToken = null },
            title = { Text("Remove ${token.service.ifEmpty { token.serverHost }}?") },
            text = {
                Text(
                    "Its key is deleted from this phone, which can then no longer answer its requests. " +
                        "The server is not told: ask there to remove the token too.",
                )
            },
            confirmButton = {
                TextButton(onClick = {
                    removingToken = null
                    model.removeToken(token)
                }) { Text("Remove") }
            },
            dismissButton = { TextButton(onClick = { removingToken = null }) { Text("Cancel") } },
        )
    }
}

@Composable
private fun SectionTitle(text: String) {
    Text(text, Modifier.padding(start = 16.dp, top = 16.dp, bottom = 4.dp), style = MaterialTheme.typography.labelLarge)
}

@Composable
private fun CodeRow(entry: CodeInfo, hotpCode: String?, onNext: () -> Unit) {
    val hotp = entry.account.otpType == OtpType.HOTP
    Row(
        Modifier.clickable(enabled = hotp, onClick = onNext).padding(16.dp),
        verticalAlignment = Alignment.CenterVertically,
    ) {
        Column(Modifier.weight(1f)) {
            Text(entry.account.issuer.ifEmpty { entry.account.name }, style = MaterialTheme.typography.titleMedium)
            Text(entry.account.name, style = MaterialTheme.typography.bodySmall)
        }
        if (hotp) {
            Text(hotpCode ?: "Tap for code", fontFamily = FontFamily.Monospace, style = MaterialTheme.typography.headlineSmall)
        } else {
            Text(entry.code, fontFamily = FontFamily.Monospace, style = MaterialTheme.typography.headlineSmall)
            CircularProgressIndicator(
                progress = { entry.secondsLeft.toFloat() / entry.account.period.coerceAtLeast(1u).toFloat() },
                modifier = Modifier.padding(start = 12.dp).size(24.dp),
            )
        }
    }
}
