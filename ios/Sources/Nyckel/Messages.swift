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
    case .BiometricCancelled:
        return "Cancelled. Use your PIN instead, or try again."
    case .BiometricLockout:
        return "Biometrics are locked after too many attempts. Use your PIN."
    case .BiometricInvalidated:
        return "Your biometrics changed, so biometric approval was turned off. Use your PIN, then turn it on again."
    case .BiometricUnavailable(let reason):
        return "Biometrics cannot be used: \(reason). Use your PIN."
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
