import Foundation
import NyckelFFI

/// The history screen's state: what the phone answered, newest first, and per registration the
/// last check of its history against the server's audit.
@MainActor
public final class HistoryModel: ObservableObject {
    /// A registration's check, as the screen shows it.
    public enum Check {
        case running
        case done(HistoryCheck)
        case failed(String)
    }

    @Published public private(set) var entries: [HistoryEntry] = []
    @Published public private(set) var checks: [String: Check] = [:]
    @Published public var errorText: String?

    private let core: Nyckel

    public init(core: Nyckel) {
        self.core = core
    }

    /// Reads the whole history again, newest first.
    public func load() {
        do {
            entries = try core.history(registrationId: nil).reversed()
        } catch {
            errorText = describe(error)
        }
    }

    /// Verifies a registration's chain and compares it with the server's audit of the device.
    public func check(registrationId: String) {
        if case .running = checks[registrationId] { return }
        checks[registrationId] = .running
        Task {
            do {
                checks[registrationId] = .done(try await core.checkHistory(registrationId: registrationId))
            } catch {
                checks[registrationId] = .failed(describe(error))
            }
        }
    }
}

/// The decision as the user took it; a QR one-time password is always "code given".
public func decisionText(_ entry: HistoryEntry) -> String {
    if entry.isQrOtp { return "Code given" }
    switch entry.decision {
    case "approve": return "Approved"
    case "deny": return "Denied"
    case "fraud": return "Reported as not me"
    default: return entry.decision
    }
}

/// The server's answer as the history stored it.
public func resultText(_ result: String) -> String {
    switch result {
    case "approved": return "server: approved"
    case "denied": return "server: denied"
    case "offline": return "offline"
    case "unknown": return "server: no answer"
    default:
        if result.hasPrefix("error:") { return "server refused (\(result.dropFirst(6)))" }
        return "server: \(result)"
    }
}

/// Whether the server's signed receipt for an entry is kept.
public func receiptText(_ entry: HistoryEntry) -> String {
    if entry.receiptRefused { return "receipt did not verify" }
    return entry.hasReceipt ? "signed receipt" : "no receipt"
}
