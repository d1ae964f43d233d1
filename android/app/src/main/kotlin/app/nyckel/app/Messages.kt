package app.nyckel.app

import app.nyckel.ffi.AnswerResult
import app.nyckel.ffi.ChallengeOutcome
import app.nyckel.ffi.NyckelException
import java.text.DateFormat
import java.util.Date

/** What to tell the user about a failure: the error's case decides the wording, its reason adds detail. */
fun describe(error: Throwable): String = when (error) {
    is NyckelException.WrongPin -> {
        val attempts = if (error.attemptsLeft == 1u) "attempt" else "attempts"
        "Wrong PIN. ${error.attemptsLeft} $attempts left before this device is blocked."
    }
    is NyckelException.DeviceBlocked ->
        "This device is blocked after too many wrong PINs. Register it again, or ask your administrator."
    is NyckelException.NumberMismatch -> "That is not the number the browser shows, so the request was denied."
    is NyckelException.RequestClosed -> "This request was already answered or has expired."
    is NyckelException.Network -> "The server cannot be reached. Check the connection and try again."
    is NyckelException.Refused -> "The server refused: ${error.reason}"
    is NyckelException.InvalidInput -> "Not valid: ${error.reason}"
    is NyckelException.PinRequired -> "This token needs a PIN. Choose one and try again."
    is NyckelException.NotFound -> "Not found: ${error.reason}"
    is NyckelException.WrongKey -> "Wrong key: ${error.reason}"
    is NyckelException.Corrupt -> "The vault is damaged: ${error.reason}"
    is NyckelException.Platform -> "The phone failed: ${error.reason}"
    is NyckelException.Storage -> "Storage failed: ${error.reason}"
    is NyckelException.ClockOff ->
        "This phone's clock is off by ${kotlin.math.abs(error.seconds) / 60} minutes. Set the date and time automatically, then try again."
    // The biometric path's failures: each leaves the PIN as the way on (the screens show their PIN pad).
    is NyckelException.BiometricCancelled -> "Cancelled. Enter your PIN instead, or try biometrics again."
    is NyckelException.BiometricLockout ->
        "Too many failed fingerprint/face attempts: biometrics are locked for now. Use your PIN."
    is NyckelException.BiometricInvalidated ->
        "Your fingerprints or face changed, so biometric unlock was turned off. Use your PIN, then turn " +
            "\"Unlock with fingerprint/face\" on again."
    is NyckelException.BiometricUnavailable -> "Biometrics cannot be used (${error.reason}). Use your PIN."
    else -> error.message ?: error.javaClass.simpleName
}

/** What an answered request came to, for the main screen. */
fun describe(outcome: ChallengeOutcome): String = when (outcome) {
    ChallengeOutcome.APPROVED -> "Approved. The browser continues by itself."
    ChallengeOutcome.DENIED -> "Denied."
    ChallengeOutcome.FRAUD -> "Denied and reported as not yours."
    ChallengeOutcome.EXPIRED -> "The request had expired."
    ChallengeOutcome.BLOCKED -> "This device is blocked."
    ChallengeOutcome.PENDING -> "The request is still open."
}

/** What an answer came to; privacyIDEA's code-to-phone gives a code to type on the login page. */
fun describe(result: AnswerResult): String {
    val code = result.displayCode ?: return describe(result.outcome)
    return "Type this code on the login page: $code" + (result.message?.let { " ($it)" } ?: "")
}

/** A Unix time as the user's locale writes a date and time. */
fun formatTime(unixSeconds: ULong): String =
    DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT).format(Date(unixSeconds.toLong() * 1000))
