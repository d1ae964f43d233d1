import LocalAuthentication
import SwiftUI
import Nyckel
import NyckelFFI

/// "Unlock with Face ID/Touch ID" for one registration: the PIN once (the server checks it and
/// counts a wrong one like a wrong approval), then the PIN's secret is sealed under a Secure
/// Enclave key only Face ID/Touch ID opens. The PIN keeps working afterwards.
struct EnableBiometricsView: View {
    @ObservedObject var model: AccountsModel
    let registration: RegistrationInfo
    let close: () -> Void

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
                Text(registration.name).font(.subheadline).foregroundStyle(.secondary)
                switch phase {
                case .entering, .enabling:
                    Text("Approve sign-ins and make one-time passwords with \(biometryName()). Your PIN keeps working. If the enrolled faces or fingerprints change, this turns itself off.")
                        .font(.caption)
                        .multilineTextAlignment(.center)
                    PinPad(title: "Enter your PIN once", pin: $pin, doneLabel: "Next", enabled: !isEnabling, onDone: enable)
                    if isEnabling { ProgressView() }
                case .done:
                    Text("\(biometryName()) unlock is on for \(registration.name).").multilineTextAlignment(.center)
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
                try await model.enableBiometrics(registration, pin: entered)
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
