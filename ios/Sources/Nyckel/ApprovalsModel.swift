import Foundation
import NyckelFFI

/// Approval requests pushed to this phone: subscribes while the app is active, and answers them.
/// The core calls the listener methods on its own threads; they hop to the main actor.
@MainActor
public final class ApprovalsModel: ObservableObject, ApprovalListener {
    /// Open requests, oldest first; the first is the one on screen.
    @Published public private(set) var requests: [ApprovalRequest] = []
    @Published public private(set) var pollingError: String?
    @Published public private(set) var answering = false
    /// A failed answer to a request that stays open (wrong PIN, network), by challenge id;
    /// `usePin` when the biometric path failed, so the screen switches to its PIN pad.
    @Published public private(set) var answerError: (challengeId: String, message: String, usePin: Bool)?
    /// The registrations with Face ID/Touch ID unlock on, for the approval screen's button.
    @Published public private(set) var biometricRegistrations: Set<String> = []
    /// What the last answer came to, or why a request went away.
    @Published public var notice: String?

    private let core: Nyckel
    private var subscription: ApprovalSubscription?
    // Scanned tiqr login codes by request id: the offline response is computed from the code.
    private var tiqrLogins: [String: String] = [:]

    public init(core: Nyckel) {
        self.core = core
    }

    public func start() {
        guard subscription == nil else { return }
        do {
            subscription = try core.subscribeApprovals(listener: self)
        } catch {
            pollingError = describe(error)
        }
        refresh()
    }

    public func stop() {
        subscription?.cancel()
        // Releasing the subscription drops the core's reference to this listener.
        subscription = nil
    }

    /// Re-reads the open requests, dropping those the phone's clock says expired.
    public func refresh() {
        let now = UInt64(max(0, Date().timeIntervalSince1970))
        do {
            requests = try core.pendingApprovals().filter { $0.expiresAt > now }
            let open = Set(requests.map(\.challengeId))
            tiqrLogins = tiqrLogins.filter { open.contains($0.key) }
        } catch {
            pollingError = describe(error)
        }
        refreshBiometrics()
    }

    /// Re-reads which of the open requests' registrations have biometric unlock on (a
    /// registration whose state cannot be read counts as off: the PIN always works).
    public func refreshBiometrics() {
        let ids = Set(requests.map(\.registrationId))
        // A registration's or a privacyIDEA token's (the other call fails or says no for the other kind).
        biometricRegistrations = ids.filter {
            ((try? core.biometricsEnabled(registrationId: $0)) ?? false)
                || ((try? core.tokenBiometricsEnabled(tokenId: $0)) ?? false)
        }
    }

    /// A scanned tiqr login (from `scanLoginCode`): shown like any pushed request, and kept
    /// with its code for the offline response.
    public func add(scannedLogin request: ApprovalRequest, payload: String) {
        tiqrLogins[request.challengeId] = payload
        if !requests.contains(where: { $0.challengeId == request.challengeId }) {
            requests.append(request)
        }
    }

    /// Whether an offline response can be shown for this request (a scanned tiqr login).
    public func canRespondOffline(_ request: ApprovalRequest) -> Bool {
        request.provider == .tiqr && tiqrLogins[request.challengeId] != nil
    }

    /// The tiqr response to type on the login page when the phone is offline. Any PIN gives
    /// digits: the server checks them and counts a wrong one.
    public func offlineResponse(_ request: ApprovalRequest, pin: String) async throws -> String {
        guard let payload = tiqrLogins[request.challengeId] else {
            throw NyckelError.NotFound(reason: "the scanned tiqr login code is gone")
        }
        let core = self.core
        return try await Task.detached { try core.tiqrOfflineResponse(payload: payload, pin: pin) }.value
    }

    /// The offline response was typed: the login leaves the inbox (tiqr has no decline on the wire).
    public func finishOffline(_ request: ApprovalRequest) {
        tiqrLogins[request.challengeId] = nil
        let core = self.core
        Task {
            // Already gone from the inbox: nothing left to dismiss.
            _ = try? await core.answerRequest(
                registrationId: request.registrationId, requestId: request.challengeId, answer: .decline(reason: nil)
            )
            refresh()
        }
    }

    /// Approves; an empty PIN is no PIN (a privacyIDEA token without an app PIN).
    public func approve(_ request: ApprovalRequest, pin: String, number: String?) {
        answer(request, .approve(pin: pin.isEmpty ? nil : pin, number: number))
    }

    /// Approves with Face ID/Touch ID instead of the PIN. The core prompts from its own thread;
    /// a biometric failure leaves the request open for the PIN.
    public func approveWithBiometrics(_ request: ApprovalRequest, number: String?) {
        answer(request, .approveWithBiometrics(number: number))
    }

    /// Declines, with a reason when the request takes one (privacyIDEA push).
    public func deny(_ request: ApprovalRequest, reason: DeclineReason? = nil) {
        answer(request, .decline(reason: reason))
    }

    public func reportFraud(_ request: ApprovalRequest) {
        answer(request, .reportFraud)
    }

    nonisolated public func onApprovalRequest(request: ApprovalRequest) {
        Task { @MainActor [weak self] in
            guard let self else { return }
            self.pollingError = nil
            if !self.requests.contains(where: { $0.challengeId == request.challengeId }) {
                self.requests.append(request)
                // Biometrics may have been turned on since the last read: the new request's button follows.
                self.refreshBiometrics()
            }
        }
    }

    nonisolated public func onPollingError(registrationId: String?, reason: String) {
        Task { @MainActor [weak self] in
            self?.pollingError = reason
        }
    }

    // Every answer goes through answerRequest, which dispatches on the registration id
    // (Nyckel, privacyIDEA push or tiqr).
    private func answer(_ request: ApprovalRequest, _ reply: RequestAnswer) {
        guard !answering else { return }
        answering = true
        answerError = nil
        let core = self.core
        Task {
            do {
                let result = try await core.answerRequest(
                    registrationId: request.registrationId, requestId: request.challengeId, answer: reply
                )
                notice = describe(result)
            } catch {
                answerError = (request.challengeId, describe(error), isBiometricError(error))
            }
            // refresh() also re-reads biometrics: an invalidated key turned them off in the core.
            refresh()
            // A final failure (blocked, mismatch, closed) removed the request and its screen:
            // its message moves to the main screen.
            if let failed = answerError, !requests.contains(where: { $0.challengeId == failed.challengeId }) {
                notice = failed.message
                answerError = nil
            }
            answering = false
        }
    }
}
