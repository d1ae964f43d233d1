import LocalAuthentication
import SwiftUI
import Nyckel
import NyckelFFI

/// "Unlock with Face ID/Touch ID" for one registration: the PIN once (the server checks it and
/// counts a wrong one like a wrong approval), then the PIN's secret is sealed under a Secure
/// Enclave key only Face ID/Touch ID opens. The PIN keeps working afterwards.
/// The same for a privacyIDEA token's app PIN (`init(model:token:close:)`): a gate on this phone only.
struct EnableBiometricsView: View {
    @ObservedObject var model: AccountsModel
    let name: String
    let explanation: String
    let pinTitle: String
    let enableWith: (String) async throws -> Void
    let close: () -> Void

    init(model: AccountsModel, registration: RegistrationInfo, close: @escaping () -> Void) {
        self.model = model
        name = registration.name
        explanation = "Approve sign-ins and make one-time passwords with \(biometryName()). Your PIN keeps working. If the enrolled faces or fingerprints change, this turns itself off."
        pinTitle = "Enter your PIN once"
        enableWith = { pin in try await model.enableBiometrics(registration, pin: pin) }
        self.close = close
    }

    init(model: AccountsModel, token: TokenInfo, close: @escaping () -> Void) {
        self.model = model
        name = "\(token.service.isEmpty ? token.serverHost : token.service) (privacyIDEA push)"
        explanation = "Approve this token's requests with \(biometryName()) instead of the app PIN, which keeps working. \(localGateNotice())"
        pinTitle = "Enter the app PIN once"
        enableWith = { pin in try await model.enableTokenBiometrics(token, pin: pin) }
        self.close = close
    }

    private enum Phase {
        case entering
        case enabling
        case done
        case failed(String, retry: Bool)
    }

    @State private var phase = Phase.entering
    @State private var pin = ""

    var body: some View {
        NavigationStack {
            VStack(spacing: 20) {
                Text(name).font(.subheadline).foregroundStyle(.secondary)
                switch phase {
                case .entering, .enabling:
                    Text(explanation)
                        .font(.caption)
                        .multilineTextAlignment(.center)
                    PinPad(title: pinTitle, pin: $pin, doneLabel: "Next", enabled: !isEnabling, onDone: enable)
                    if isEnabling { ProgressView() }
                case .done:
                    Text("\(biometryName()) unlock is on for \(name).").multilineTextAlignment(.center)
                    Button("Done", action: close).buttonStyle(.borderedProminent)
                case .failed(let message, let retry):
                    Text(message).foregroundStyle(.red).multilineTextAlignment(.center)
                    if retry {
                        Button("Try again") { phase = .entering }.buttonStyle(.borderedProminent)
                    }
                    Button("Close", action: close)
                }
            }
            .padding()
            .navigationTitle("Unlock with \(biometryName())")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: close).disabled(isEnabling)
                }
            }
        }
        // Leaving mid-call would hide whether it was turned on: the sheet waits for the answer.
        .interactiveDismissDisabled(isEnabling)
    }

    private var isEnabling: Bool {
        if case .enabling = phase { return true }
        return false
    }

    private func enable() {
        let entered = pin
        pin = ""
        phase = .enabling
        Task { @MainActor in
            do {
                try await enableWith(entered)
                phase = .done
            } catch {
                phase = .failed(describe(error), retry: Self.canRetry(error))
            }
        }
    }

    /// A wrong PIN, no network, a cancelled prompt or a passing lockout change nothing, so
    /// another try can succeed; a blocked device or no biometrics at all cannot.
    private static func canRetry(_ error: Error) -> Bool {
        switch error as? NyckelError {
        case .WrongPin?, .Network?, .BiometricCancelled?, .BiometricLockout?: return true
        default: return false
        }
    }
}

/// "Face ID" or "Touch ID", whichever this device has; both names when it cannot tell (no
/// biometrics enrolled, or another kind).
func biometryName() -> String {
    let context = LAContext()
    // biometryType is only set once canEvaluatePolicy has run.
    _ = context.canEvaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, error: nil)
    switch context.biometryType {
    case .faceID: return "Face ID"
    case .touchID: return "Touch ID"
    default: return "Face ID/Touch ID"
    }
}
