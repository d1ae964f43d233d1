package app.nyckel.app

import android.app.Application
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.fragment.app.FragmentActivity
import androidx.lifecycle.viewModelScope
import app.nyckel.android.AndroidBiometricKey
import app.nyckel.android.openNyckel
import app.nyckel.ffi.AddPhoneCode
import app.nyckel.ffi.ApprovalListener
import app.nyckel.ffi.ApprovalRequest
import app.nyckel.ffi.AnswerResult
import app.nyckel.ffi.ApprovalSubscription
import app.nyckel.ffi.CodeInfo
import app.nyckel.ffi.DeclineReason
import app.nyckel.ffi.HistoryCheck
import app.nyckel.ffi.HistoryEntry
import app.nyckel.ffi.ImportFormat
import app.nyckel.ffi.ImportedEntry
import app.nyckel.ffi.NewDeviceInfo
import app.nyckel.ffi.NewPhoneProgress
import app.nyckel.ffi.NewPhoneRequest
import app.nyckel.ffi.Nyckel
import app.nyckel.ffi.NyckelException
import app.nyckel.ffi.PayloadType
import app.nyckel.ffi.PinCheck
import app.nyckel.ffi.Provider
import app.nyckel.ffi.QrOtpRequest
import app.nyckel.ffi.RegistrationInfo
import app.nyckel.ffi.RequestAnswer
import app.nyckel.ffi.ScannedCode
import app.nyckel.ffi.TokenInfo
import app.nyckel.ffi.UserDevice
import app.nyckel.ffi.detectImportFormat
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.lang.ref.WeakReference

/** Where the app is; a pending approval request is shown over any of these. */
sealed interface Route {
    /** Accounts, codes and registrations. */
    data object Accounts : Route

    /** The camera, routing what it finds. */
    data object Scanner : Route

    /** Registering this phone from a scanned enrollment code. */
    data class Register(val payload: String) : Route

    /** An offline one-time password for a scanned login or transaction code. */
    data class QrOtp(val payload: String, val request: QrOtpRequest) : Route

    /** Changing the PIN of one of this phone's registrations. */
    data class ChangePin(val registration: RegistrationInfo) : Route

    /** Turning on fingerprint/face unlock for a registration: the PIN once, then the prompt. */
    data class EnableBiometrics(val registration: RegistrationInfo) : Route

    /** The history of answers and one-time passwords, with their receipts. */
    data object History : Route

    /** Importing another app's export file. */
    data object Import : Route

    /** Exporting every account as an Aegis vault file. */
    data object Export : Route

    /** On a registered phone: an "add a phone" code for the user's new phone. */
    data class AddPhone(val registration: RegistrationInfo) : Route

    /** On the new phone: registering from an "add a phone" code another phone shows. */
    data object NewPhone : Route

    /** The user's devices at the server for a registration, each retirable. */
    data class Devices(val registration: RegistrationInfo) : Route

    /** Turning on fingerprint/face unlock of a privacyIDEA token's app PIN. */
    data class EnableTokenBiometrics(val token: TokenInfo) : Route

    /** Adding a privacyIDEA push or tiqr token from a scanned enrolment code (`tiqr` for tiqr). */
    data class AddToken(val payload: String, val tiqr: Boolean) : Route
}

/** Where adding a privacyIDEA push or tiqr token stands. */
sealed interface TokenEnrollState {
    /** Push: the app PIN is optional (`pinRequired` once the code turned out to demand one); tiqr: the PIN is asked. */
    data class Idle(val pinRequired: Boolean = false) : TokenEnrollState

    /** Enrolling at the server. */
    data object Running : TokenEnrollState

    /** Stored on this phone. */
    data class Done(val token: TokenInfo) : TokenEnrollState

    /** Failed, with what to tell the user; nothing was stored. */
    data class Failed(val message: String) : TokenEnrollState
}

/**
 * What a privacyIDEA push or tiqr enrolment code says about where it leads, read from the
 * code itself before anything is sent: the issuer (push only) and the server's host. Not
 * verified: the server's own answer names the service once enrolled.
 */
data class TokenCodeInfo(val issuer: String?, val host: String?)

/** Reads [TokenCodeInfo] from an `otpauth://pipush/…`, `pia://pipush/…` or `tiqrenroll://…` code; null fields when absent. */
fun tokenCodeInfo(payload: String): TokenCodeInfo {
    val text = payload.trim()
    if (text.startsWith("tiqrenroll://", ignoreCase = true)) {
        return TokenCodeInfo(null, hostOf(text.substring("tiqrenroll://".length)))
    }
    val query = text.substringAfter('?', "")
    val params = query.split('&').mapNotNull { pair ->
        val name = pair.substringBefore('=')
        val value = pair.substringAfter('=', "")
        runCatching { name to java.net.URLDecoder.decode(value, "UTF-8") }.getOrNull()
    }.toMap()
    return TokenCodeInfo(params["issuer"]?.takeIf { it.isNotBlank() }, params["url"]?.let(::hostOf))
}

private fun hostOf(url: String): String? = runCatching { java.net.URI(url.trim()).host }.getOrNull()?.takeIf { it.isNotEmpty() }

/** Whether an enrolment failed only because the code demands the app PIN and none was chosen. */
fun isPinRequired(error: NyckelException): Boolean = error is NyckelException.PinRequired

/** Where registering this phone from another phone's "add a phone" code stands. */
sealed interface NewPhoneState {
    /** Code and PIN not given yet. */
    data object Idle : NewPhoneState

    /** Sending the request. */
    data object Requesting : NewPhoneState

    /** Asked: the other phone must show this number and fingerprint and approve. */
    data class Waiting(val request: NewPhoneRequest) : NewPhoneState

    /** Approved: this phone's own registration is stored. */
    data class Registered(val registration: RegistrationInfo) : NewPhoneState

    /** The other phone denied it. */
    data object Denied : NewPhoneState

    /** Nobody answered in time (or it was cancelled at the server). */
    data object Expired : NewPhoneState

    /** Failed otherwise, with what to tell the user. */
    data class Failed(val message: String) : NewPhoneState
}

/** A file picked for import: its bytes, a name to show, and the format Nyckel recognised in it. */
class PickedFile(val name: String, val bytes: ByteArray, val format: ImportFormat?)

/** Where an import stands. */
sealed interface ImportState {
    /** No file picked yet. */
    data object Idle : ImportState

    /** A file is picked; `needsPassphrase` once the core said it is encrypted, `wrongPassphrase` after a wrong one. */
    data class Ready(val file: PickedFile, val needsPassphrase: Boolean = false, val wrongPassphrase: Boolean = false) : ImportState

    /** The core is reading the file (an encrypted one goes through a slow KDF). */
    data class Running(val file: PickedFile) : ImportState

    /** One result per entry of the file. */
    data class Done(val file: PickedFile, val entries: List<ImportedEntry>) : ImportState

    /** The file could not be read at all. */
    data class Failed(val file: PickedFile?, val message: String) : ImportState
}

/** Progress of one call into the core, as a screen shows it. */
sealed interface Work<out T> {
    /** Not started. */
    data object Idle : Work<Nothing>

    /** In flight. */
    data object Running : Work<Nothing>

    /** Failed, with what to tell the user and whether asking again can help. */
    data class Failed(val message: String, val retry: Boolean = false) : Work<Nothing>

    /** Finished with a value. */
    data class Done<T>(val value: T) : Work<T>
}

/** How long one wait for the other phone's decision long-polls (the core allows up to 30 s). */
const val NEW_PHONE_WAIT_SECONDS: ULong = 25u

/** The largest file the import screen reads. */
const val MAX_IMPORT_BYTES = 16_000_000

/**
 * A failed answer to one approval request that stays open (wrong PIN, network). `usePin` when
 * the biometric path failed (cancelled, locked out, invalidated, unavailable): the screen then
 * switches to its PIN pad, which always remains the way to answer.
 */
data class AnswerError(val challengeId: String, val message: String, val usePin: Boolean = false)

/** Whether an error came from the biometric path, after which the PIN is the way on. */
fun isBiometricError(error: NyckelException): Boolean =
    error is NyckelException.BiometricCancelled || error is NyckelException.BiometricLockout ||
        error is NyckelException.BiometricInvalidated || error is NyckelException.BiometricUnavailable

/**
 * Owns the `Nyckel` core and the approvals subscription for the activity's whole life
 * (surviving rotation), and holds the state every screen reads.
 */
class NyckelViewModel(application: Application) : AndroidViewModel(application) {
    private val opened: Result<Nyckel> = runCatching { openNyckel(application) }

    /** Why the vault could not be opened, or null when it is open. */
    val openError: String? = opened.exceptionOrNull()?.let(::describe)
    private val core: Nyckel get() = opened.getOrThrow()

    private val _route = MutableStateFlow<Route>(Route.Accounts)
    val route: StateFlow<Route> = _route.asStateFlow()

    private val _notice = MutableStateFlow<String?>(null)
    val notice: StateFlow<String?> = _notice.asStateFlow()

    private val _registrations = MutableStateFlow(emptyList<RegistrationInfo>())
    val registrations: StateFlow<List<RegistrationInfo>> = _registrations.asStateFlow()

    private val _approvals = MutableStateFlow(emptyList<ApprovalRequest>())
    val approvals: StateFlow<List<ApprovalRequest>> = _approvals.asStateFlow()

    private val _pollingError = MutableStateFlow<String?>(null)
    val pollingError: StateFlow<String?> = _pollingError.asStateFlow()

    private val _answering = MutableStateFlow(false)
    val answering: StateFlow<Boolean> = _answering.asStateFlow()

    private val _answerError = MutableStateFlow<AnswerError?>(null)
    val answerError: StateFlow<AnswerError?> = _answerError.asStateFlow()

    private val _registration = MutableStateFlow<Work<RegistrationInfo>>(Work.Idle)
    val registration: StateFlow<Work<RegistrationInfo>> = _registration.asStateFlow()

    private val _qrOtp = MutableStateFlow<Work<String>>(Work.Idle)
    val qrOtp: StateFlow<Work<String>> = _qrOtp.asStateFlow()

    private val _pinChange = MutableStateFlow<Work<Unit>>(Work.Idle)
    val pinChange: StateFlow<Work<Unit>> = _pinChange.asStateFlow()

    private val _history = MutableStateFlow<Work<List<HistoryEntry>>>(Work.Idle)
    val history: StateFlow<Work<List<HistoryEntry>>> = _history.asStateFlow()

    private val _historyChecks = MutableStateFlow<Map<String, Work<HistoryCheck>>>(emptyMap())

    /** Per registration id, the last check of its history against the server's audit. */
    val historyChecks: StateFlow<Map<String, Work<HistoryCheck>>> = _historyChecks.asStateFlow()

    private val _import = MutableStateFlow<ImportState>(ImportState.Idle)
    val import: StateFlow<ImportState> = _import.asStateFlow()

    private val _export = MutableStateFlow<Work<String>>(Work.Idle)
    val export: StateFlow<Work<String>> = _export.asStateFlow()

    private val _addPhone = MutableStateFlow<Work<AddPhoneCode>>(Work.Idle)

    /** The "add a phone" code on the AddPhone screen. */
    val addPhone: StateFlow<Work<AddPhoneCode>> = _addPhone.asStateFlow()

    private val _newPhone = MutableStateFlow<NewPhoneState>(NewPhoneState.Idle)

    /** Registering this phone from another phone's code, on the NewPhone screen. */
    val newPhone: StateFlow<NewPhoneState> = _newPhone.asStateFlow()

    private var newPhoneWait: Job? = null

    private val _devices = MutableStateFlow<Work<List<UserDevice>>>(Work.Idle)

    /** The user's devices on the Devices screen. */
    val devices: StateFlow<Work<List<UserDevice>>> = _devices.asStateFlow()

    private val _retire = MutableStateFlow<Work<String>>(Work.Idle)

    /** Retiring a device from the Devices screen; done with what to tell the user. */
    val retire: StateFlow<Work<String>> = _retire.asStateFlow()

    private val _tokens = MutableStateFlow(emptyList<TokenInfo>())

    /** The privacyIDEA push and tiqr tokens on this phone. */
    val tokens: StateFlow<List<TokenInfo>> = _tokens.asStateFlow()

    private val _tokenEnroll = MutableStateFlow<TokenEnrollState>(TokenEnrollState.Idle())

    /** Adding a token on the AddToken screen. */
    val tokenEnroll: StateFlow<TokenEnrollState> = _tokenEnroll.asStateFlow()

    // Scanned tiqr login codes by request id: the offline response is computed from the code.
    private val tiqrLogins = mutableMapOf<String, String>()

    private val _offlineResponse = MutableStateFlow<Pair<String, Work<String>>?>(null)

    /** The tiqr offline response being computed or shown, with the request id it is for. */
    val offlineResponse: StateFlow<Pair<String, Work<String>>?> = _offlineResponse.asStateFlow()

    private val _biometrics = MutableStateFlow<Map<String, Boolean>>(emptyMap())

    /** Per registration id, whether fingerprint/face unlock is on for it. */
    val biometrics: StateFlow<Map<String, Boolean>> = _biometrics.asStateFlow()

    private val _biometricSetup = MutableStateFlow<Work<Unit>>(Work.Idle)

    /** Turning biometric unlock on for the registration on the EnableBiometrics screen. */
    val biometricSetup: StateFlow<Work<Unit>> = _biometricSetup.asStateFlow()

    private val _qrOtpNotice = MutableStateFlow<String?>(null)

    /** Why the biometric one-time password failed; the QR screen shows it over its PIN pad. */
    val qrOtpNotice: StateFlow<String?> = _qrOtpNotice.asStateFlow()

    // The activity BiometricPrompt is shown on: set while MainActivity is started. Weak, so a
    // destroyed activity (rotation) is never kept alive by this longer-lived model.
    @Volatile
    private var promptHost: WeakReference<FragmentActivity>? = null

    private var subscription: ApprovalSubscription? = null

    // Called on the core's polling threads: hop to the main thread before touching state.
    private val listener = object : ApprovalListener {
        override fun onApprovalRequest(request: ApprovalRequest) {
            viewModelScope.launch(Dispatchers.Main) {
                _pollingError.value = null
                _approvals.update { list -> if (list.any { it.challengeId == request.challengeId }) list else list + request }
            }
        }

        override fun onPollingError(registrationId: String?, reason: String) {
            viewModelScope.launch(Dispatchers.Main) { _pollingError.value = reason }
        }
    }

    init {
        opened.getOrNull()?.let { core ->
            // The core calls the key on its own threads; the key shows the prompt on the
            // activity that is in front when it is called.
            core.setBiometricKey(AndroidBiometricKey(application) { promptHost?.get() })
            refreshRegistrations()
        }
    }

    /** The activity biometric prompts appear on; MainActivity calls it in onStart. */
    fun attachPromptHost(activity: FragmentActivity) {
        promptHost = WeakReference(activity)
    }

    /** MainActivity calls it in onStop: a hidden activity cannot show a prompt. */
    fun detachPromptHost(activity: FragmentActivity) {
        if (promptHost?.get() === activity) promptHost = null
    }

    /** Starts polling for approval requests; the activity calls it in onStart. */
    fun startApprovals() {
        if (opened.isFailure || subscription != null) return
        subscription = try {
            core.subscribeApprovals(listener)
        } catch (error: NyckelException) {
            _pollingError.value = describe(error)
            null
        }
        refreshApprovals()
    }

    /** Stops polling; the activity calls it in onStop, so a hidden app does not keep polling. */
    fun stopApprovals() {
        subscription?.let {
            it.cancel()
            // Closing drops the Rust side's reference to the listener (and so to this model).
            it.close()
        }
        subscription = null
    }

    override fun onCleared() {
        stopApprovals()
        opened.getOrNull()?.close()
    }

    fun navigate(route: Route) {
        _route.value = route
    }

    fun dismissNotice() {
        _notice.value = null
    }

    /** The current codes; on failure the last message explains why and the list is empty. */
    fun currentCodes(): List<CodeInfo> = attempt { core.currentCodes() } ?: emptyList()

    /** Advances an HOTP account and returns its new code (the code list never shows HOTP codes). */
    fun nextHotpCode(id: ULong): String? = attempt { core.nextHotpCode(id).code }

    fun deleteAccount(id: ULong) {
        attempt { core.deleteAccount(id) }
    }

    /** Routes a scanned code by what it is for. */
    fun scanned(code: ScannedCode) {
        _route.value = Route.Accounts
        val text = code.text ?: return show("This QR code holds no text Nyckel can use.")
        attempt {
            when (code.payloadType) {
                PayloadType.OTPAUTH -> {
                    val account = core.addAccount(text)
                    show("Added ${account.issuer.ifEmpty { account.name }}.")
                }
                PayloadType.OTPAUTH_MIGRATION -> {
                    val report = core.importMigration(listOf(text))
                    val missing = report.missingBatches.map { it + 1u }
                    show(
                        "Imported ${report.added} accounts" +
                            (if (report.duplicates > 0u) ", ${report.duplicates} already present" else "") +
                            (if (missing.isEmpty()) "." else "; also scan the export's codes ${missing.joinToString()}."),
                    )
                }
                PayloadType.NYCKEL_ENROLL -> {
                    _registration.value = Work.Idle
                    _route.value = Route.Register(text)
                }
                PayloadType.NYCKEL_LOGIN, PayloadType.NYCKEL_TRANSACTION -> {
                    val request = core.readQrOtp(text)
                    _qrOtp.value = Work.Idle
                    _qrOtpNotice.value = null
                    _route.value = Route.QrOtp(text, request)
                }
                PayloadType.PRIVACY_IDEA_PUSH, PayloadType.TIQR_ENROLL -> {
                    _tokenEnroll.value = TokenEnrollState.Idle()
                    _route.value = Route.AddToken(text, tiqr = code.payloadType == PayloadType.TIQR_ENROLL)
                }
                PayloadType.TIQR_AUTH -> {
                    // The login joins the one inbox; the approval screen shows it over every route.
                    val request = core.scanLoginCode(text)
                    tiqrLogins[request.challengeId] = text
                    _approvals.update { list -> if (list.any { it.challengeId == request.challengeId }) list else list + request }
                }
                else -> show("This QR code is not one Nyckel can use.")
            }
        }
    }

    /** Registers this phone; the PIN was already asked twice. */
    fun register(payload: String, pin: String) {
        if (_registration.value == Work.Running) return
        _registration.value = Work.Running
        viewModelScope.launch {
            _registration.value = try {
                Work.Done(core.register(payload, pin))
            } catch (error: NyckelException) {
                Work.Failed(describe(error))
            }
            refreshRegistrations()
        }
    }

    /**
     * Enrolls a privacyIDEA push token (`pin` the optional app PIN, a gate on this phone only)
     * or a tiqr token (`pin` the tiqr PIN, which the server checks). When a push code demands
     * the app PIN and none was given, the screen asks for one instead of failing.
     */
    fun enrollToken(payload: String, pin: String?) {
        if (_tokenEnroll.value == TokenEnrollState.Running) return
        _tokenEnroll.value = TokenEnrollState.Running
        viewModelScope.launch {
            _tokenEnroll.value = try {
                TokenEnrollState.Done(core.enrollToken(payload, pin))
            } catch (error: NyckelException) {
                if (pin == null && isPinRequired(error)) TokenEnrollState.Idle(pinRequired = true) else TokenEnrollState.Failed(describe(error))
            }
            refreshTokens()
        }
    }

    /** Forgets a token and its key on this phone (the server is not told). */
    fun removeToken(token: TokenInfo) {
        attempt { core.removeToken(token.id) }?.let { removed ->
            show(if (removed) "Removed ${token.service.ifEmpty { token.serverHost }}." else "That token was already gone.")
        }
        refreshTokens()
    }

    private fun refreshTokens() {
        attempt { core.tokens() }?.let { _tokens.value = it }
        refreshBiometrics()
    }

    /** Opens the screen that turns fingerprint/face unlock on for a token's app PIN. */
    fun openEnableTokenBiometrics(token: TokenInfo) {
        if (_biometricSetup.value != Work.Running) _biometricSetup.value = Work.Idle
        _route.value = Route.EnableTokenBiometrics(token)
    }

    /**
     * Turns fingerprint/face unlock on for a privacyIDEA token's app PIN: the app PIN once
     * (checked on this phone; a wrong one counts toward its lock), then the system prompt.
     */
    fun enableTokenBiometrics(token: TokenInfo, pin: String) {
        if (_biometricSetup.value == Work.Running) return
        _biometricSetup.value = Work.Running
        viewModelScope.launch {
            _biometricSetup.value = try {
                // The prompt blocks its thread and the key refuses the main thread.
                withContext(Dispatchers.IO) { core.enableTokenBiometrics(token.id, pin) }
                Work.Done(Unit)
            } catch (error: NyckelException) {
                val retry = error is NyckelException.WrongPin ||
                    error is NyckelException.BiometricCancelled || error is NyckelException.BiometricLockout
                Work.Failed(describe(error), retry)
            }
            refreshBiometrics()
        }
    }

    /** Turns fingerprint/face unlock off for a token; the app PIN still works. */
    fun disableTokenBiometrics(token: TokenInfo) {
        attempt { core.disableTokenBiometrics(token.id) }
        refreshBiometrics()
    }

    /** Whether a tiqr offline response can be shown for this request (a scanned tiqr login). */
    fun canRespondOffline(request: ApprovalRequest): Boolean =
        request.provider == Provider.TIQR && tiqrLogins.containsKey(request.challengeId)

    /**
     * The tiqr response to type on the login page when the phone is offline. Any PIN gives
     * digits: the server checks them and counts a wrong one.
     */
    fun computeOfflineResponse(request: ApprovalRequest, pin: String) {
        val payload = tiqrLogins[request.challengeId] ?: return
        _offlineResponse.value = request.challengeId to Work.Running
        viewModelScope.launch {
            val result: Work<String> = try {
                Work.Done(withContext(Dispatchers.Default) { core.tiqrOfflineResponse(payload, pin) })
            } catch (error: NyckelException) {
                Work.Failed(describe(error))
            }
            _offlineResponse.value = request.challengeId to result
        }
    }

    /** Leaves the offline path; the request stays open for an online answer. */
    fun clearOfflineResponse() {
        _offlineResponse.value = null
    }

    /** The offline response was typed: the login leaves the inbox (tiqr has no decline on the wire). */
    fun finishOffline(request: ApprovalRequest) {
        _offlineResponse.value = null
        tiqrLogins.remove(request.challengeId)
        viewModelScope.launch {
            try {
                core.answerRequest(request.registrationId, request.challengeId, RequestAnswer.Decline(null))
            } catch (error: NyckelException) {
                // Already gone from the inbox: nothing left to dismiss.
            }
            refreshApprovals()
        }
    }

    fun unregister(registration: RegistrationInfo) {
        viewModelScope.launch {
            try {
                core.unregister(registration.id)
                show("Removed ${registration.name}.")
            } catch (error: NyckelException) {
                show(describe(error))
            }
            refreshRegistrations()
        }
    }

    /** Opens the PIN change screen for a registration, starting from its current PIN. */
    fun openChangePin(registration: RegistrationInfo) {
        // A change still in flight keeps its state, so the screen shows how it ends.
        if (_pinChange.value != Work.Running) _pinChange.value = Work.Idle
        _route.value = Route.ChangePin(registration)
    }

    /** Starts the PIN change over after a failure that asking again can fix. */
    fun retryChangePin() {
        if (_pinChange.value is Work.Failed) _pinChange.value = Work.Idle
    }

    /**
     * Changes a registration's PIN; the new one was already asked twice. The server checks the
     * current PIN first and counts a wrong one like a wrong approval; on failure nothing changes.
     */
    fun changePin(registration: RegistrationInfo, oldPin: String, newPin: String) {
        if (_pinChange.value == Work.Running) return
        _pinChange.value = Work.Running
        viewModelScope.launch {
            _pinChange.value = try {
                core.changePin(registration.id, oldPin, newPin)
                Work.Done(Unit)
            } catch (error: NyckelException) {
                // A wrong current PIN or no network leave the old PIN in force, so another try
                // can succeed; a blocked device or a vanished registration cannot.
                val retry = error is NyckelException.WrongPin || error is NyckelException.Network
                Work.Failed(describe(error), retry)
            }
            // With biometrics on, the new secret is sealed again (the prompt shows); if that
            // failed the core turned biometric unlock off: the toggle follows either way.
            refreshBiometrics()
        }
    }

    /** Approves; an empty PIN is no PIN (a privacyIDEA token without an app PIN). */
    fun approve(request: ApprovalRequest, pin: String, number: String?) =
        answer(request) {
            core.answerRequest(request.registrationId, request.challengeId, RequestAnswer.Approve(pin.ifEmpty { null }, number))
        }

    /**
     * Approves with fingerprint/face instead of the PIN. The key blocks its thread until the
     * user answers the prompt and refuses the main thread, so the call runs on the IO pool.
     */
    fun approveWithBiometrics(request: ApprovalRequest, number: String?) =
        answer(request) {
            try {
                withContext(Dispatchers.IO) {
                    core.answerRequest(request.registrationId, request.challengeId, RequestAnswer.ApproveWithBiometrics(number))
                }
            } finally {
                // An invalidated key turned biometrics off in the core: the toggle follows.
                refreshBiometrics()
            }
        }

    /** Opens the screen that turns fingerprint/face unlock on for a registration. */
    fun openEnableBiometrics(registration: RegistrationInfo) {
        if (_biometricSetup.value != Work.Running) _biometricSetup.value = Work.Idle
        _route.value = Route.EnableBiometrics(registration)
    }

    /** Starts over after a failure that asking again can fix (wrong PIN, cancelled prompt, network). */
    fun retryEnableBiometrics() {
        if (_biometricSetup.value is Work.Failed) _biometricSetup.value = Work.Idle
    }

    /**
     * Turns fingerprint/face unlock on: the server checks the PIN (a wrong one counts like a
     * wrong approval), then the prompt seals the secret under a new biometric key.
     */
    fun enableBiometrics(registration: RegistrationInfo, pin: String) {
        if (_biometricSetup.value == Work.Running) return
        _biometricSetup.value = Work.Running
        viewModelScope.launch {
            _biometricSetup.value = try {
                withContext(Dispatchers.IO) { core.enableBiometrics(registration.id, pin) }
                show("Fingerprint/face unlock is on for ${registration.name}.")
                Work.Done(Unit)
            } catch (error: NyckelException) {
                val retry = error is NyckelException.WrongPin || error is NyckelException.Network ||
                    error is NyckelException.BiometricCancelled || error is NyckelException.BiometricLockout
                Work.Failed(describe(error), retry)
            }
            refreshBiometrics()
        }
    }

    /** Turns fingerprint/face unlock off and deletes its key; the PIN stays as it was. */
    fun disableBiometrics(registration: RegistrationInfo) {
        viewModelScope.launch {
            try {
                withContext(Dispatchers.IO) { core.disableBiometrics(registration.id) }
                show("Fingerprint/face unlock is off for ${registration.name}.")
            } catch (error: NyckelException) {
                show(describe(error))
            }
            refreshBiometrics()
        }
    }

    /** Declines, with a reason when the request takes one (privacyIDEA push). */
    fun deny(request: ApprovalRequest, reason: DeclineReason? = null) =
        answer(request) { core.answerRequest(request.registrationId, request.challengeId, RequestAnswer.Decline(reason)) }

    fun reportFraud(request: ApprovalRequest) =
        answer(request) { core.answerRequest(request.registrationId, request.challengeId, RequestAnswer.ReportFraud) }

    /** Re-reads the open requests from the core, dropping those the phone's clock says expired. */
    fun refreshApprovals() {
        val now = System.currentTimeMillis() / 1000
        attempt { core.pendingApprovals() }?.let { pending ->
            _approvals.value = pending.filter { it.expiresAt.toLong() > now }
            tiqrLogins.keys.retainAll(pending.map { it.challengeId }.toSet())
        }
    }

    /** Computes the one-time password; offline, and a wrong PIN gives a wrong but plausible code. */
    fun computeQrOtp(payload: String, registrationId: String?, pin: String) {
        if (_qrOtp.value == Work.Running) return
        _qrOtp.value = Work.Running
        _qrOtpNotice.value = null
        viewModelScope.launch {
            _qrOtp.value = try {
                // The PIN goes through a deliberately slow KDF: keep it off the main thread.
                Work.Done(withContext(Dispatchers.Default) { core.qrOtp(payload, registrationId, pin) })
            } catch (error: NyckelException) {
                Work.Failed(describe(error))
            }
        }
    }

    /**
     * The same one-time password with fingerprint/face instead of the PIN. A biometric failure
     * returns to the PIN pad with its message; other failures end like the PIN path's.
     */
    fun computeQrOtpWithBiometrics(payload: String, registrationId: String) {
        if (_qrOtp.value == Work.Running) return
        _qrOtp.value = Work.Running
        _qrOtpNotice.value = null
        viewModelScope.launch {
            _qrOtp.value = try {
                // Blocks until the user answers the prompt; the key refuses the main thread.
                Work.Done(withContext(Dispatchers.IO) { core.qrOtpWithBiometrics(payload, registrationId) })
            } catch (error: NyckelException) {
                if (isBiometricError(error)) {
                    _qrOtpNotice.value = describe(error)
                    Work.Idle
                } else {
                    Work.Failed(describe(error))
                }
            }
            refreshBiometrics()
        }
    }

    /** Opens the history and reads it, newest first. */
    fun openHistory() {
        _route.value = Route.History
        _history.value = try {
            Work.Done(core.history(null).asReversed())
        } catch (error: NyckelException) {
            Work.Failed(describe(error))
        }
    }

    /** Checks a registration's history chain and compares it with the server's audit of the device. */
    fun checkHistory(registrationId: String) {
        if (_historyChecks.value[registrationId] == Work.Running) return
        _historyChecks.update { it + (registrationId to Work.Running) }
        viewModelScope.launch {
            val result: Work<HistoryCheck> = try {
                Work.Done(core.checkHistory(registrationId))
            } catch (error: NyckelException) {
                Work.Failed(describe(error), retry = error is NyckelException.Network)
            }
            _historyChecks.update { it + (registrationId to result) }
        }
    }

    /** Opens the import screen with no file picked. */
    fun openImport() {
        if (_import.value !is ImportState.Running) _import.value = ImportState.Idle
        _route.value = Route.Import
    }

    /** Reads the picked file and recognises its format; nothing is imported yet. */
    fun pickImportFile(uri: Uri) {
        viewModelScope.launch {
            _import.value = try {
                val bytes = withContext(Dispatchers.IO) { readLimited(uri) }
                val name = uri.lastPathSegment?.substringAfterLast('/') ?: "file"
                ImportState.Ready(PickedFile(name, bytes, detectImportFormat(bytes)))
            } catch (error: Exception) {
                ImportState.Failed(null, "The file cannot be read: ${error.message ?: error.javaClass.simpleName}")
            }
        }
    }

    /**
     * Imports the picked file. Without a passphrase an encrypted file comes back as `WrongKey`:
     * the screen then asks for its password and calls again.
     */
    fun runImport(passphrase: String?, allOrNothing: Boolean) {
        val file = when (val state = _import.value) {
            is ImportState.Ready -> state.file
            is ImportState.Failed -> state.file ?: return
            else -> return
        }
        _import.value = ImportState.Running(file)
        viewModelScope.launch {
            _import.value = try {
                // Encrypted exports go through scrypt or PBKDF2: keep it off the main thread.
                val entries = withContext(Dispatchers.Default) {
                    core.importFile(file.bytes, file.format, passphrase?.ifEmpty { null }, allOrNothing)
                }
                ImportState.Done(file, entries)
            } catch (error: NyckelException.WrongKey) {
                ImportState.Ready(file, needsPassphrase = true, wrongPassphrase = !passphrase.isNullOrEmpty())
            } catch (error: NyckelException) {
                ImportState.Failed(file, describe(error))
            }
        }
    }

    /** Opens the export screen. */
    fun openExport() {
        if (_export.value != Work.Running) _export.value = Work.Idle
        _route.value = Route.Export
    }

    /**
     * Writes every account as an Aegis vault to `uri`: encrypted under `passphrase`, or plain
     * (secrets in clear) when it is null.
     */
    fun exportAegis(uri: Uri, passphrase: String?) {
        if (_export.value == Work.Running) return
        _export.value = Work.Running
        viewModelScope.launch {
            _export.value = try {
                withContext(Dispatchers.Default) {
                    val bytes = core.exportAegis(passphrase)
                    val resolver = getApplication<Application>().contentResolver
                    val out = resolver.openOutputStream(uri, "wt") ?: throw java.io.IOException("no file to write to")
                    out.use { it.write(bytes) }
                }
                Work.Done(if (passphrase == null) "Saved, unencrypted. Delete the file once imported." else "Saved, encrypted.")
            } catch (error: NyckelException) {
                Work.Failed(describe(error))
            } catch (error: java.io.IOException) {
                Work.Failed("The file cannot be written: ${error.message}")
            }
        }
    }

    /** Opens the "add a phone" screen for a registration; the code is made when asked for. */
    fun openAddPhone(registration: RegistrationInfo) {
        if (_addPhone.value != Work.Running) _addPhone.value = Work.Idle
        _route.value = Route.AddPhone(registration)
    }

    /** Asks the server for an "add a phone" code naming the new phone `deviceName`. */
    fun makeAddPhoneCode(registration: RegistrationInfo, deviceName: String) {
        if (_addPhone.value == Work.Running) return
        _addPhone.value = Work.Running
        viewModelScope.launch {
            _addPhone.value = try {
                Work.Done(core.addPhoneCode(registration.id, deviceName))
            } catch (error: NyckelException) {
                Work.Failed(describe(error), retry = error is NyckelException.Network)
            }
        }
    }

    /** Opens the "register from my other phone" screen, unless a request is still waiting. */
    fun openNewPhone() {
        if (_newPhone.value !is NewPhoneState.Waiting && _newPhone.value != NewPhoneState.Requesting) {
            _newPhone.value = NewPhoneState.Idle
        }
        _route.value = Route.NewPhone
    }

    /**
     * Sends the new phone's request with the pasted code and the chosen PIN (asked twice), then
     * waits for a registered phone's decision.
     */
    fun requestNewPhone(payload: String, pin: String) {
        if (_newPhone.value != NewPhoneState.Idle && _newPhone.value !is NewPhoneState.Failed) return
        _newPhone.value = NewPhoneState.Requesting
        newPhoneWait = viewModelScope.launch {
            val request = try {
                core.requestNewPhone(payload.trim(), pin)
            } catch (error: NyckelException) {
                _newPhone.value = NewPhoneState.Failed(describe(error))
                return@launch
            }
            _newPhone.value = NewPhoneState.Waiting(request)
            // Each call long-polls up to 25 s; awaiting means ask again until a decision or expiry.
            while (true) {
                val progress = try {
                    core.waitNewPhone(request.enrollmentId, NEW_PHONE_WAIT_SECONDS)
                } catch (error: NyckelException.Refused) {
                    _newPhone.value = NewPhoneState.Denied
                    break
                } catch (error: NyckelException.RequestClosed) {
                    _newPhone.value = NewPhoneState.Expired
                    break
                } catch (error: NyckelException) {
                    _newPhone.value = NewPhoneState.Failed(describe(error))
                    break
                }
                if (progress is NewPhoneProgress.Registered) {
                    _newPhone.value = NewPhoneState.Registered(progress.registration)
                    refreshRegistrations()
                    break
                }
            }
        }
    }

    /** Stops waiting for the other phone; the key made for this request is deleted. */
    fun cancelNewPhone() {
        val waiting = _newPhone.value as? NewPhoneState.Waiting
        newPhoneWait?.cancel()
        newPhoneWait = null
        waiting?.let { attempt { core.cancelNewPhone(it.request.enrollmentId) } }
        _newPhone.value = NewPhoneState.Idle
        _route.value = Route.Accounts
    }

    /** The new phone an open request asks to add, or null for a sign-in or transaction. */
    fun newDeviceFor(request: ApprovalRequest): NewDeviceInfo? = try {
        core.pendingNewDevice(request.registrationId, request.challengeId)
    } catch (error: NyckelException) {
        null
    }

    /** Opens the list of the user's devices for a registration and reads it from the server. */
    fun openDevices(registration: RegistrationInfo) {
        _retire.value = Work.Idle
        _route.value = Route.Devices(registration)
        loadDevices(registration)
    }

    /** Reads the registration user's devices from the server again. */
    fun loadDevices(registration: RegistrationInfo) {
        _devices.value = Work.Running
        viewModelScope.launch {
            _devices.value = try {
                Work.Done(core.userDevices(registration.id))
            } catch (error: NyckelException) {
                Work.Failed(describe(error), retry = error is NyckelException.Network)
            }
        }
    }

    /**
     * Retires a device: another one needs this phone's PIN (a wrong one counts like a wrong
     * approval); this phone's own is unregistered and forgotten here, the PIN ignored.
     */
    fun retireDevice(registration: RegistrationInfo, device: UserDevice, pin: String) {
        if (_retire.value == Work.Running) return
        _retire.value = Work.Running
        viewModelScope.launch {
            _retire.value = try {
                core.retireDevice(registration.id, device.deviceId, pin)
                Work.Done("Retired ${device.name}.")
            } catch (error: NyckelException) {
                val retry = error is NyckelException.WrongPin || error is NyckelException.Network
                Work.Failed(describe(error), retry)
            }
            if (device.thisDevice && _retire.value is Work.Done) {
                refreshRegistrations()
                show("This phone is no longer registered for ${registration.name}.")
                _route.value = Route.Accounts
            } else {
                loadDevices(registration)
            }
        }
    }

    /** Clears a retire result so the list can be used again. */
    fun dismissRetire() {
        if (_retire.value != Work.Running) _retire.value = Work.Idle
    }

    // An export file of thousands of accounts is well under a megabyte; anything far larger is
    // not one, and reading it whole could exhaust the app's memory.
    private fun readLimited(uri: Uri): ByteArray {
        val resolver = getApplication<Application>().contentResolver
        val input = resolver.openInputStream(uri) ?: throw java.io.IOException("no file")
        // InputStream.readNBytes needs API 33; minSdk is 28.
        return input.use { stream ->
            val out = java.io.ByteArrayOutputStream()
            val buffer = ByteArray(64 * 1024)
            while (true) {
                val read = stream.read(buffer)
                if (read < 0) break
                out.write(buffer, 0, read)
                if (out.size() > MAX_IMPORT_BYTES) throw java.io.IOException("over ${MAX_IMPORT_BYTES / 1_000_000} MB")
            }
            out.toByteArray()
        }
    }

    private fun answer(request: ApprovalRequest, call: suspend () -> AnswerResult) {
        if (_answering.value) return
        _answering.value = true
        _answerError.value = null
        viewModelScope.launch {
            try {
                show(describe(call()))
                if (_offlineResponse.value?.first == request.challengeId) _offlineResponse.value = null
            } catch (error: NyckelException) {
                _answerError.value = AnswerError(request.challengeId, describe(error), usePin = isBiometricError(error))
            }
            refreshApprovals()
            // A final failure (blocked, mismatch, closed) removed the request and its screen:
            // its message moves to the main screen.
            val error = _answerError.value
            if (error != null && _approvals.value.none { it.challengeId == error.challengeId }) {
                show(error.message)
                _answerError.value = null
            }
            _answering.value = false
        }
    }

    private fun refreshRegistrations() {
        attempt { core.registrations() }?.let { _registrations.value = it }
        refreshTokens()
        refreshBiometrics()
    }

    private fun refreshBiometrics() {
        val registrations = _registrations.value.associate { registration ->
            // A registration whose state cannot be read shows as off: the PIN always works.
            val enabled = try {
                core.biometricsEnabled(registration.id)
            } catch (error: NyckelException) {
                false
            }
            registration.id to enabled
        }
        // Only a privacyIDEA token's app PIN can be unlocked so (tiqr's PIN unmasks its secret).
        val tokens = _tokens.value.filter { it.pinCheck == PinCheck.LOCAL_GATE }.associate { token ->
            val enabled = try {
                core.tokenBiometricsEnabled(token.id)
            } catch (error: NyckelException) {
                false
            }
            token.id to enabled
        }
        _biometrics.value = registrations + tokens
    }

    private fun show(message: String) {
        _notice.value = message
    }

    private inline fun <T> attempt(block: () -> T): T? = try {
        block()
    } catch (error: NyckelException) {
        show(describe(error))
        null
    }
}
