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
    case .PinRequired:
        return "This token needs a PIN. Choose one and try again."
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

/// Whether an enrolment failed only because the code demands the app PIN and none was chosen.
public func isPinRequired(_ error: Error) -> Bool {
    if case .PinRequired? = error as? NyckelError { return true }
    return false
}

/// What an answer came to; privacyIDEA's code-to-phone gives a code to type on the login page.
public func describe(_ result: AnswerResult) -> String {
    guard let code = result.displayCode else { return describe(result.outcome) }
    return "Type this code on the login page: \(code)" + (result.message.map { " (\($0))" } ?? "")
}

/// What a privacyIDEA push or tiqr enrolment code says about where it leads, read from the code
/// itself before anything is sent: the issuer (push only) and the server's host. Not verified:
/// the server's own answer names the service once enrolled.
public struct TokenCodeInfo: Equatable {
    public let issuer: String?
    public let host: String?

    public init(payload: String) {
        let text = payload.trimmingCharacters(in: .whitespacesAndNewlines)
        let tiqrPrefix = "tiqrenroll://"
        if text.lowercased().hasPrefix(tiqrPrefix) {
            issuer = nil
            host = URL(string: String(text.dropFirst(tiqrPrefix.count)))?.host
            return
        }
        let items = URLComponents(string: text)?.queryItems ?? []
        issuer = items.first { $0.name == "issuer" }?.value.flatMap { $0.isEmpty ? nil : $0 }
        host = items.first { $0.name == "url" }?.value.flatMap { URL(string: $0)?.host }
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
