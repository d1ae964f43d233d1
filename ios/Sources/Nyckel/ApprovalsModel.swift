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
        } catch {
            pollingError = describe(error)
        }
        refreshBiometrics()
    }

    /// Re-reads which of the open requests' registrations have biometric unlock on (a
    /// registration whose state cannot be read counts as off: the PIN always works).
    public func refreshBiometrics() {
        let ids = Set(requests.map(\.registrationId))
        biometricRegistrations = ids.filter { (try? core.biometricsEnabled(registrationId: $0)) ?? false }
    }

    public func approve(_ request: ApprovalRequest, pin: String, number: String?) {
        answer(request) { core in
            try await core.approve(
                registrationId: request.registrationId, challengeIdText: request.challengeId, pin: pin, number: number
            )
        }
    }

    /// Approves with Face ID/Touch ID instead of the PIN. The core prompts from its own thread;
    /// a biometric failure leaves the request open for the PIN.
    public func approveWithBiometrics(_ request: ApprovalRequest, number: String?) {
        answer(request) { core in
            try await core.approveWithBiometrics(
                registrationId: request.registrationId, challengeIdText: request.challengeId, number: number
            )
        }
    }

    public func deny(_ request: ApprovalRequest) {
        answer(request) { core in
            try await core.deny(registrationId: request.registrationId, challengeIdText: request.challengeId)
        }
    }

    public func reportFraud(_ request: ApprovalRequest) {
        answer(request) { core in
            try await core.reportFraud(registrationId: request.registrationId, challengeIdText: request.challengeId)
        }
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

    private func answer(_ request: ApprovalRequest, _ call: @escaping @Sendable (Nyckel) async throws -> ChallengeOutcome) {
        guard !answering else { return }
        answering = true
        answerError = nil
        Task {
            do {
                let outcome = try await call(core)
                notice = describe(outcome)
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
