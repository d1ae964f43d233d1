import Foundation
import NyckelFFI

/// What to tell the user about a failure: the error's case decides the wording, its reason adds detail.
public func describe(_ error: Error) -> String {
    guard let error = error as? NyckelError else { return error.localizedDescription }
    switch error {
    case .WrongPin(let attemptsLeft):
        return "Wrong PIN. \(attemptsLeft) \(attemptsLeft == 1 ? "attempt" : "attempts") left before this device is blocked."
    case .DeviceBlocked:
        return "This device is blocked after too many wrong PINs. Register it again, or ask your administrator."
    case .NumberMismatch:
        return "That is not the number the browser shows, so the request was denied."
    case .RequestClosed:
        return "This request was already answered or has expired."
    case .Network:
        return "The server cannot be reached. Check the connection and try again."
    case .Refused(let reason):
        return "The server refused: \(reason)"
    case .InvalidInput(let reason):
        return "Not valid: \(reason)"
    case .NotFound(let reason):
        return "Not found: \(reason)"
    case .WrongKey(let reason):
        return "Wrong key: \(reason)"
    case .Corrupt(let reason):
        return "The vault is damaged: \(reason)"
    case .Platform(let reason):
        return "The phone failed: \(reason)"
    case .Storage(let reason):
        return "Storage failed: \(reason)"
    case .ClockOff(let seconds):
        return "This phone's clock is off by \(abs(seconds) / 60) minutes. Set the date and time automatically, then try again."
    // The biometric path's failures: each leaves the PIN as the way on (the screens show their PIN pad).
    case .BiometricCancelled:
        return "Cancelled. Enter your PIN instead, or try Face ID/Touch ID again."
    case .BiometricLockout:
        return "Too many failed Face ID/Touch ID attempts: biometrics are locked for now. Use your PIN."
    case .BiometricInvalidated:
        return "Your Face ID or Touch ID changed, so biometric unlock was turned off. Use your PIN, then turn it on again for the registration."
    case .BiometricUnavailable(let reason):
        return "Face ID/Touch ID cannot be used (\(reason)). Use your PIN."
    }
}

/// Whether an error came from the biometric path (cancelled, locked out, changed, unavailable),
/// after which the PIN is the way on.
public func isBiometricError(_ error: Error) -> Bool {
    switch error as? NyckelError {
    case .BiometricCancelled?, .BiometricLockout?, .BiometricInvalidated?, .BiometricUnavailable?: return true
    default: return false
    }
}

/// What an answered request came to.
public func describe(_ outcome: ChallengeOutcome) -> String {
    switch outcome {
    case .approved: return "Approved. The browser continues by itself."
    case .denied: return "Denied."
    case .fraud: return "Denied and reported as not yours."
    case .expired: return "The request had expired."
    case .blocked: return "This device is blocked."
    case .pending: return "The request is still open."
    }
}
