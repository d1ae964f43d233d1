import SwiftUI
import Nyckel
import NyckelFFI

/// "Register this device": choose a PIN of 4+ digits, repeat it, and the core enrolls the phone.
/// The PIN is never stored nor sent; forgetting it means registering again.
struct RegistrationView: View {
    @ObservedObject var model: AccountsModel
    let payload: String
    let close: () -> Void

    private enum Phase {
        case choosing
        case registering
        case done(String)
        case failed(String)
    }

    @State private var phase = Phase.choosing

    var body: some View {
        NavigationStack {
            VStack(spacing: 20) {
                switch phase {
                case .choosing:
                    NewPinPad(onChosen: register)
                case .registering:
                    ProgressView("Registering…")
                case .done(let name):
                    Text("This device is registered with \(name). The browser continues by itself.")
                        .multilineTextAlignment(.center)
                    Button("Done", action: close).buttonStyle(.borderedProminent)
                case .failed(let message):
                    Text(message).foregroundStyle(.red).multilineTextAlignment(.center)
                    Button("Close", action: close)
                }
            }
            .padding()
            .navigationTitle("Register this device")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: close)
                }
            }
        }
        .interactiveDismissDisabled(isRegistering)
    }

    private var isRegistering: Bool {
        if case .registering = phase { return true }
        return false
    }

    private func register(_ chosen: String) {
        phase = .registering
        Task { @MainActor in
            do {
                let registration = try await model.register(payload: payload, pin: chosen)
                phase = .done(
                    "\(registration.user) at \(registration.organisation) (\(registration.serverHost)). "
                        + "Check that the browser shows the device code \(registration.deviceFingerprint)")
            } catch {
                phase = .failed(describe(error))
            }
        }
    }
}
