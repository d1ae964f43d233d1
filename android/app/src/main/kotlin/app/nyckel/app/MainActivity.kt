package app.nyckel.app

import android.os.Bundle
import android.view.WindowManager
import androidx.activity.compose.BackHandler
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.key
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.fragment.app.FragmentActivity
import androidx.lifecycle.compose.collectAsStateWithLifecycle

/**
 * The app's only activity: the view model holds the core; approvals are polled while it is
 * visible. A FragmentActivity (a ComponentActivity subclass) because BiometricPrompt needs one
 * to host its prompt.
 */
class MainActivity : FragmentActivity() {
    private val model: NyckelViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Codes, PINs and one-time passwords stay out of screenshots and the recent-apps thumbnail.
        window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) { NyckelApp(model) }
            }
        }
    }

    override fun onStart() {
        super.onStart()
        model.attachPromptHost(this)
        model.startApprovals()
    }

    override fun onStop() {
        model.stopApprovals()
        model.detachPromptHost(this)
        super.onStop()
    }
}

/** Picks the screen: an open approval request first, then the current route. */
@Composable
fun NyckelApp(model: NyckelViewModel) {
    model.openError?.let {
        Text("Nyckel could not open its vault: $it", Modifier.padding(24.dp))
        return
    }
    val approvals by model.approvals.collectAsStateWithLifecycle()
    val route by model.route.collectAsStateWithLifecycle()

    val request = approvals.firstOrNull()
    if (request != null) {
        // Per request, so a new one starts with an empty PIN and no number picked.
        key(request.challengeId) { ApprovalScreen(model, request) }
        return
    }
    BackHandler(enabled = route != Route.Accounts) { model.navigate(Route.Accounts) }
    when (val current = route) {
        Route.Accounts -> AccountsScreen(model)
        Route.Scanner -> ScannerScreen(Modifier.fillMaxSize(), onCode = model::scanned)
        is Route.Register -> key(current.payload) { RegisterScreen(model, current.payload) }
        is Route.QrOtp -> key(current.payload) { QrOtpScreen(model, current.payload, current.request) }
        is Route.ChangePin -> key(current.registration.id) { ChangePinScreen(model, current.registration) }
        is Route.EnableBiometrics -> key(current.registration.id) { EnableBiometricsScreen(model, current.registration) }
        Route.History -> HistoryScreen(model)
        Route.Import -> ImportScreen(model)
        Route.Export -> ExportScreen(model)
        is Route.AddPhone -> key(current.registration.id) { AddPhoneScreen(model, current.registration) }
        Route.NewPhone -> NewPhoneScreen(model)
        is Route.Devices -> key(current.registration.id) { DevicesScreen(model, current.registration) }
        is Route.EnableTokenBiometrics -> key(current.token.id) { EnableTokenBiometricsScreen(model, current.token) }
        is Route.AddToken -> key(current.payload) { AddTokenScreen(model, current.payload, current.tiqr) }
    }
}
