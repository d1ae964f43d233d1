package app.nyckel.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.size
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp

/** The shortest PIN the core accepts. */
const val MIN_PIN_LENGTH = 4

private const val MAX_PIN_LENGTH = 12

/**
 * A numeric PIN pad showing dots for the digits entered. Its own keys rather than the system
 * keyboard, so no keyboard app sees or learns the PIN.
 */
@Composable
fun PinPad(
    title: String,
    pin: String,
    onPinChange: (String) -> Unit,
    onDone: () -> Unit,
    modifier: Modifier = Modifier,
    doneLabel: String = "OK",
    enabled: Boolean = true,
) {
    Column(modifier, horizontalAlignment = Alignment.CenterHorizontally, verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(title, style = MaterialTheme.typography.titleMedium)
        Text(
            if (pin.isEmpty()) " " else "●".repeat(pin.length),
            style = MaterialTheme.typography.headlineMedium,
            fontFamily = FontFamily.Monospace,
        )
        val rows = listOf(listOf("1", "2", "3"), listOf("4", "5", "6"), listOf("7", "8", "9"), listOf("⌫", "0", doneLabel))
        for (row in rows) {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for (key in row) {
                    val keyModifier = Modifier.size(width = 88.dp, height = 56.dp)
                    when (key) {
                        "⌫" -> TextButton(onClick = { onPinChange(pin.dropLast(1)) }, modifier = keyModifier, enabled = enabled && pin.isNotEmpty()) {
                            Text(key)
                        }
                        doneLabel -> FilledTonalButton(onClick = onDone, modifier = keyModifier, enabled = enabled && pin.length >= MIN_PIN_LENGTH) {
                            Text(key)
                        }
                        else -> FilledTonalButton(
                            onClick = { if (pin.length < MAX_PIN_LENGTH) onPinChange(pin + key) },
                            modifier = keyModifier,
                            enabled = enabled,
                        ) {
                            Text(key, style = MaterialTheme.typography.titleLarge)
                        }
                    }
                }
            }
        }
    }
}

/**
 * Choosing a new PIN: typed twice on a [PinPad] and compared here, so a mistyped PIN is never
 * sent. [onChosen] gets the PIN once both entries match; on a mismatch both are asked again.
 * The digits live only in this composable's state, and only until [onChosen] takes them.
 */
@Composable
fun NewPinPad(
    onChosen: (String) -> Unit,
    modifier: Modifier = Modifier,
    chooseTitle: String = "Choose a PIN of at least $MIN_PIN_LENGTH digits",
    repeatTitle: String = "Enter the same PIN again",
    mismatchText: String = "The PINs did not match. Choose one again.",
    doneLabel: String = "OK",
    enabled: Boolean = true,
) {
    var first by remember { mutableStateOf<String?>(null) }
    var pin by remember { mutableStateOf("") }
    var mismatch by remember { mutableStateOf(false) }
    Column(modifier, horizontalAlignment = Alignment.CenterHorizontally, verticalArrangement = Arrangement.spacedBy(8.dp)) {
        if (mismatch) Text(mismatchText, color = MaterialTheme.colorScheme.error)
        PinPad(
            title = if (first == null) chooseTitle else repeatTitle,
            pin = pin,
            onPinChange = { pin = it },
            onDone = {
                val chosen = first
                when {
                    chosen == null -> {
                        first = pin
                        mismatch = false
                    }
                    chosen == pin -> {
                        // A retry after a failed call starts from the beginning.
                        first = null
                        onChosen(pin)
                    }
                    else -> {
                        first = null
                        mismatch = true
                    }
                }
                pin = ""
            },
            doneLabel = if (first != null) doneLabel else "OK",
            enabled = enabled,
        )
    }
}
