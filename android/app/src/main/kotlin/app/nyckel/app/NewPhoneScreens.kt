package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalClipboardManager
import androidx.compose.ui.text.AnnotatedString
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.nyckel.ffi.NewDeviceInfo
import app.nyckel.ffi.RegistrationInfo
import app.nyckel.ffi.UserDevice

/**
 * On a registered phone: makes an "add a phone" code for the user's new phone and shows it as
 * text with a copy button and its expiry (the app has no QR renderer; the new phone pastes it).
 */
@Composable
fun AddPhoneScreen(model: NyckelViewModel, registration: RegistrationInfo) {
    val work by model.addPhone.collectAsStateWithLifecycle()
    var name by remember { mutableStateOf("New phone") }
    val clipboard = LocalClipboardManager.current

    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(16.dp),
    ) {
        Text("Add a phone", style = MaterialTheme.typography.headlineSmall)
        Text("For ${registration.name}", style = MaterialTheme.typography.bodyMedium)
        when (val state = work) {
            Work.Idle, is Work.Failed -> {
                if (state is Work.Failed) Text(state.message, color = MaterialTheme.colorScheme.error)
                OutlinedTextField(
                    value = name,
                    onValueChange = { name = it.take(64) },
                    label = { Text("Name of the new phone") },
                    singleLine = true,
                )
                Button(onClick = { model.makeAddPhoneCode(registration, name.trim()) }, enabled = name.isNotBlank()) {
                    Text("Show code")
                }
            }
            Work.Running -> CircularProgressIndicator()
            is Work.Done -> {
                Text("On the new phone, choose \"Register from my other phone\" and paste this code:")
                Card(Modifier.fillMaxWidth()) {
                    SelectionContainer {
                        Text(state.value.qr, Modifier.padding(16.dp), fontFamily = FontFamily.Monospace)
                    }
                }
                OutlinedButton(onClick = { clipboard.setText(AnnotatedString(state.value.qr)) }) { Text("Copy code") }
                Text("Works until ${formatTime(state.value.expiresAt)}.", style = MaterialTheme.typography.bodySmall)
                Text(
                    "This phone then asks you to approve the new one: compare the fingerprint both phones show.",
                    style = MaterialTheme.typography.bodySmall,
                )
            }
        }
        TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
    }
}

/**
 * On the new phone: the pasted "add a phone" code and a PIN chosen twice send the request; then
 * the number and fingerprint to see on the other phone while it decides.
 */
@Composable
fun NewPhoneScreen(model: NyckelViewModel) {
    val state by model.newPhone.collectAsStateWithLifecycle()
    var code by remember { mutableStateOf("") }
    var codeGiven by remember { mutableStateOf(false) }

    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(16.dp),
    ) {
        Text("Register from my other phone", style = MaterialTheme.typography.headlineSmall)
        when (val current = state) {
            NewPhoneState.Idle, is NewPhoneState.Failed -> {
                if (current is NewPhoneState.Failed) Text(current.message, color = MaterialTheme.colorScheme.error)
                if (!codeGiven) {
                    Text("On your registered phone, open \"Add a phone\" and paste its code here.")
                    OutlinedTextField(
                        value = code,
                        onValueChange = { code = it },
                        label = { Text("Add-a-phone code") },
                        modifier = Modifier.fillMaxWidth(),
                    )
                    Button(onClick = { codeGiven = true }, enabled = code.trim().startsWith("nyckel://")) { Text("Next") }
                } else {
                    NewPinPad(onChosen = { model.requestNewPhone(code, it) })
                }
                OutlinedButton(onClick = { model.navigate(Route.Accounts) }) { Text("Cancel") }
            }
            NewPhoneState.Requesting -> {
                CircularProgressIndicator()
                Text("Asking your registered phones…")
            }
            is NewPhoneState.Waiting -> {
                Text("Approve on your other phone. It must show:")
                Text(current.request.number, style = MaterialTheme.typography.displayMedium)
                Text("Fingerprint ${current.request.fingerprint}", fontFamily = FontFamily.Monospace)
                Text(
                    "Asked ${current.request.devices} device(s); expires ${formatTime(current.request.expiresAt)}.",
                    style = MaterialTheme.typography.bodySmall,
                )
                CircularProgressIndicator()
                OutlinedButton(onClick = model::cancelNewPhone) { Text("Cancel") }
            }
            is NewPhoneState.Registered -> {
                Text("Approved. This phone is registered for ${current.registration.name}.", color = MaterialTheme.colorScheme.primary)
                Button(onClick = { model.navigate(Route.Accounts) }) { Text("Done") }
            }
            NewPhoneState.Denied -> {
                Text("Your other phone denied adding this phone.", color = MaterialTheme.colorScheme.error)
                Button(onClick = model::cancelNewPhone) { Text("Close") }
            }
            NewPhoneState.Expired -> {
                Text("Nobody approved in time; the request expired.", color = MaterialTheme.colorScheme.error)
                Button(onClick = model::cancelNewPhone) { Text("Close") }
            }
        }
    }
}

/** On the approval screen: a request to add a new phone, shown instead of a sign-in's details. */
@Composable
fun NewDeviceCard(device: NewDeviceInfo) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            Text("Add a new phone", style = MaterialTheme.typography.titleLarge)
            Text("Name: ${device.name}")
            Text("Platform: ${device.platform}")
            Text("Fingerprint: ${device.fingerprint}", fontFamily = FontFamily.Monospace)
            Text(
                "Approve only if the new phone in your hand shows the same fingerprint.",
                style = MaterialTheme.typography.bodySmall,
                color = MaterialTheme.colorScheme.error,
            )
        }
    }
}

/**
 * The registration user's devices at the server: name, platform, this phone, state. Retiring
 * another device asks this phone's PIN; retiring this phone unregisters it here (no PIN).
 */
@Composable
fun DevicesScreen(model: NyckelViewModel, registration: RegistrationInfo) {
    val devices by model.devices.collectAsStateWithLifecycle()
    val retire by model.retire.collectAsStateWithLifecycle()
    var retiring by remember { mutableStateOf<UserDevice?>(null) }
    var pin by remember { mutableStateOf("") }

    val target = retiring
    if (target != null && retire == Work.Idle) {
        Column(
            Modifier.fillMaxSize().padding(24.dp),
            horizontalAlignment = Alignment.CenterHorizontally,
            verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
        ) {
            Text("Retire ${target.name}?", style = MaterialTheme.typography.headlineSmall)
            if (target.thisDevice) {
                Text("This phone stops being registered for ${registration.name} and forgets it.")
                Button(onClick = { model.retireDevice(registration, target, "") }) { Text("Retire this phone") }
            } else {
                PinPad(
                    title = "Enter your PIN to retire it",
                    pin = pin,
                    onPinChange = { pin = it },
                    onDone = {
                        model.retireDevice(registration, target, pin)
                        pin = ""
                    },
                    doneLabel = "Retire",
                )
            }
            TextButton(onClick = { retiring = null }) { Text("Cancel") }
        }
        return
    }

    LazyColumn(Modifier.padding(vertical = 16.dp)) {
        item {
            Row(Modifier.padding(horizontal = 16.dp), verticalAlignment = Alignment.CenterVertically) {
                Text("My devices", Modifier.weight(1f), style = MaterialTheme.typography.titleLarge)
                TextButton(onClick = { model.navigate(Route.Accounts) }) { Text("Close") }
            }
            Text(registration.name, Modifier.padding(horizontal = 16.dp), style = MaterialTheme.typography.bodySmall)
        }
        item {
            when (val state = retire) {
                Work.Idle -> Unit
                Work.Running -> CircularProgressIndicator(Modifier.padding(16.dp))
                is Work.Failed -> Text(
                    state.message,
                    Modifier.padding(16.dp),
                    color = MaterialTheme.colorScheme.error,
                )
                is Work.Done -> Text(state.value, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.primary)
            }
            if (retire is Work.Failed || retire is Work.Done) {
                TextButton(onClick = {
                    retiring = null
                    model.dismissRetire()
                }) { Text("OK") }
            }
        }
        when (val state = devices) {
            Work.Idle, Work.Running -> item { CircularProgressIndicator(Modifier.padding(16.dp)) }
            is Work.Failed -> item {
                Text(state.message, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.error)
                TextButton(onClick = { model.loadDevices(registration) }) { Text("Try again") }
            }
            is Work.Done -> items(state.value, key = { it.deviceId }) { device ->
                Row(Modifier.padding(horizontal = 16.dp, vertical = 8.dp), verticalAlignment = Alignment.CenterVertically) {
                    Column(Modifier.weight(1f)) {
                        Text(
                            device.name + if (device.thisDevice) " (this phone)" else "",
                            style = MaterialTheme.typography.titleSmall,
                        )
                        Text("${device.platform} · ${device.state}", style = MaterialTheme.typography.bodySmall)
                        Text("Last used ${formatTime(device.lastUsedAt)}", style = MaterialTheme.typography.bodySmall)
                    }
                    if (device.state != "inactive") {
                        TextButton(onClick = {
                            model.dismissRetire()
                            retiring = device
                        }) { Text("Retire") }
                    }
                }
            }
        }
    }
}
