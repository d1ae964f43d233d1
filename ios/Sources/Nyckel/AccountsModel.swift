import Foundation
import NyckelFFI

/// Where a scanned code leads beyond adding accounts.
public enum ScanDestination {
    /// Register this phone from an enrollment code.
    case register(payload: String)
    /// Show an offline one-time password for a login or transaction code.
    case qrOtp(payload: String, request: QrOtpRequest)
    /// Add a privacyIDEA push token (`tiqr` false) or a tiqr token from its enrolment code.
    case addToken(payload: String, tiqr: Bool)
    /// A scanned tiqr login, now a request of the inbox ([`ApprovalsModel.add(scannedLogin:payload:)`]).
    case tiqrLogin(payload: String, request: ApprovalRequest)
}

/// The main screen's state: codes refreshed every second, registrations, and what scanning leads to.
@MainActor
public final class AccountsModel: ObservableObject {
    @Published public private(set) var codes: [CodeInfo] = []
    /// currentCodes() leaves HOTP codes empty: a revealed one is kept here.
    @Published public private(set) var hotpCodes: [UInt64: String] = [:]
    @Published public private(set) var registrations: [RegistrationInfo] = []
    /// Per registration id, whether Face ID/Touch ID unlock is on for it.
    @Published public private(set) var biometrics: [String: Bool] = [:]
    /// The privacyIDEA push and tiqr tokens on this phone.
    @Published public private(set) var tokens: [TokenInfo] = []
    @Published public var errorText: String?

    private let core: Nyckel
    private var ticker: Task<Void, Never>?

    public init(core: Nyckel) {
        self.core = core
    }

    public func start() {
        ticker?.cancel()
        refreshRegistrations()
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                self?.refresh()
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    public func stop() {
        ticker?.cancel()
        ticker = nil
    }

    public func refresh() {
        attempt { codes = try core.currentCodes() }
    }

    public func refreshRegistrations() {
        attempt { registrations = try core.registrations() }
        attempt { tokens = try core.tokens() }
        refreshBiometrics()
    }

    /// Re-reads which registrations have biometric unlock on; one whose state cannot be read
    /// shows as off (the PIN always works).
    public func refreshBiometrics() {
        var states: [String: Bool] = [:]
        for registration in registrations {
            states[registration.id] = (try? core.biometricsEnabled(registrationId: registration.id)) ?? false
        }
        // Only a privacyIDEA token's app PIN can be unlocked so (tiqr's PIN unmasks its secret).
        for token in tokens where token.pinCheck == .localGate {
            states[token.id] = (try? core.tokenBiometricsEnabled(tokenId: token.id)) ?? false
        }
        biometrics = states
    }

    /// Turns Face ID/Touch ID unlock on for a privacyIDEA token's app PIN: the app PIN once
    /// (checked on this phone; a wrong one counts toward its lock), then the system prompt.
    public func enableTokenBiometrics(_ token: TokenInfo, pin: String) async throws {
        defer { refreshBiometrics() }
        try await core.enableTokenBiometrics(tokenId: token.id, pin: pin)
    }

    /// Turns it off for a token; the app PIN still works.
    public func disableTokenBiometrics(_ token: TokenInfo) {
        attempt { try core.disableTokenBiometrics(tokenId: token.id) }
        refreshBiometrics()
    }

    /// Turns Face ID/Touch ID unlock on: the server checks the PIN (a wrong one counts like a
    /// wrong approval), then the Secure Enclave key seals the PIN's secret.
    public func enableBiometrics(_ registration: RegistrationInfo, pin: String) async throws {
        defer { refreshBiometrics() }
        try await core.enableBiometrics(registrationId: registration.id, pin: pin)
    }

    /// Turns biometric unlock off and deletes its key; the PIN stays as it was.
    public func disableBiometrics(_ registration: RegistrationInfo) {
        attempt { try core.disableBiometrics(registrationId: registration.id) }
        refreshBiometrics()
    }

    /// Adds what an account code carries, or says where another Nyckel code leads.
    public func route(scanned code: ScannedCode) -> ScanDestination? {
        guard let text = code.text else {
            errorText = "This QR code holds no text Nyckel can use."
            return nil
        }
        do {
            switch code.payloadType {
            case .otpauth:
                _ = try core.addAccount(uri: text)
            case .otpauthMigration:
                let report = try core.importMigration(uris: [text])
                if !report.missingBatches.isEmpty {
                    let missing = report.missingBatches.map { String($0 + 1) }.joined(separator: ", ")
                    errorText = "Imported \(report.added) accounts; also scan the export's codes \(missing)."
                }
            case .nyckelEnroll:
                return .register(payload: text)
            case .nyckelLogin, .nyckelTransaction:
                let request = try core.readQrOtp(payload: text)
                return .qrOtp(payload: text, request: request)
            case .privacyIdeaPush:
                return .addToken(payload: text, tiqr: false)
            case .tiqrEnroll:
                return .addToken(payload: text, tiqr: true)
            case .tiqrAuth:
                let request = try core.scanLoginCode(payload: text)
                return .tiqrLogin(payload: text, request: request)
            default:
                errorText = "This QR code is not one Nyckel can use."
            }
            refresh()
        } catch {
            errorText = describe(error)
        }
        return nil
    }

    public func nextCode(for account: AccountInfo) {
        attempt { hotpCodes[account.id] = try core.nextHotpCode(id: account.id).code }
    }

    public func delete(_ account: AccountInfo) {
        attempt {
            try core.deleteAccount(id: account.id)
            hotpCodes[account.id] = nil
            refresh()
        }
    }

    /// Registers this phone; the PIN was already asked twice. The PIN is never stored nor sent.
    public func register(payload: String, pin: String) async throws -> RegistrationInfo {
        defer { refreshRegistrations() }
        return try await core.register(payload: payload, pin: pin)
    }

    /// Changes a registration's PIN; the new one was already asked twice. The server checks the
    /// current PIN first and counts a wrong one like a wrong approval; on failure nothing changes.
    public func changePin(_ registration: RegistrationInfo, oldPin: String, newPin: String) async throws {
        // With biometrics on the new secret is sealed again; if that failed the core turned
        // them off: the toggle follows either way.
        defer { refreshBiometrics() }
        try await core.changePin(registrationId: registration.id, oldPin: oldPin, newPin: newPin)
    }

    /// Enrolls a privacyIDEA push token (`pin` the optional app PIN, a gate on this phone only)
    /// or a tiqr token (`pin` the tiqr PIN, which the server checks). On failure nothing is stored.
    public func enrollToken(payload: String, pin: String?) async throws -> TokenInfo {
        defer { refreshRegistrations() }
        return try await core.enrollToken(payload: payload, pin: pin)
    }

    /// Forgets a token and its key on this phone (the server is not told).
    public func removeToken(_ token: TokenInfo) {
        attempt { _ = try core.removeToken(tokenId: token.id) }
        refreshRegistrations()
    }

    public func unregister(_ registration: RegistrationInfo) {
        Task {
            do {
                try await core.unregister(registrationId: registration.id)
            } catch {
                errorText = describe(error)
            }
            refreshRegistrations()
        }
    }

    /// The offline one-time password; a wrong PIN gives a plausible but wrong code.
    public func qrOtp(payload: String, registrationId: String?, pin: String) async throws -> String {
        let core = self.core
        // The PIN goes through a deliberately slow KDF: keep it off the main actor.
        return try await Task.detached {
            try core.qrOtp(payload: payload, registrationId: registrationId, pin: pin)
        }.value
    }

    /// The same one-time password with Face ID/Touch ID instead of the PIN; the core prompts
    /// from its own thread and an invalidated key turns biometrics off.
    public func qrOtpWithBiometrics(payload: String, registrationId: String?) async throws -> String {
        defer { refreshBiometrics() }
        return try await core.qrOtpWithBiometrics(payload: payload, registrationId: registrationId)
    }

    private func attempt(_ body: () throws -> Void) {
        do {
            try body()
        } catch {
            errorText = describe(error)
        }
    }
}
