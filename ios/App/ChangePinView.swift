import SwiftUI
import Nyckel
import NyckelFFI

/// "Change PIN" for one registration: the current PIN, then the new one twice, compared here so
/// a mistyped new PIN sends nothing. The server checks the current PIN and counts a wrong one
/// like a wrong approval; on any failure the old PIN stays in force.
struct ChangePinView: View {
    @ObservedObject var model: AccountsModel
    let registration: RegistrationInfo
    let close: () -> Void

    private enum Phase {
        case entering
        case changing
        case done
        case failed(String, retry: Bool)
    }

    @State private var phase = Phase.entering
    // The PINs typed so far live only here, and only until the call takes them.
    @State private var current: String?
    @State private var pin = ""

    var body: some View {
        NavigationStack {
            VStack(spacing: 20) {
                Text(registration.name).font(.subheadline).foregroundStyle(.secondary)
                switch phase {
                case .entering, .changing:
                    if let old = current {
                        NewPinPad(
                            chooseTitle: "Choose a new PIN of at least \(minPinLength) digits",
                            repeatTitle: "Enter the new PIN again",
                            mismatchText: "The new PINs did not match. Choose one again.",
                            doneLabel: "Change",
                            enabled: !isChanging
                        ) { change(old: old, to: $0) }
                    } else {
                        PinPad(title: "Enter your current PIN", pin: $pin, enabled: !isChanging) {
                            current = pin
                            pin = ""
                        }
                    }
                    if isChanging { ProgressView("Changing the PIN…") }
                case .done:
                    Text("The PIN of \(registration.name) is changed. Approve with the new PIN from now on.")
                        .multilineTextAlignment(.center)
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
            .navigationTitle("Change PIN")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: close).disabled(isChanging)
                }
            }
        }
        // Leaving mid-call would hide which PIN is now in force: the sheet waits for the answer.
        .interactiveDismissDisabled(isChanging)
    }

    private var isChanging: Bool {
        if case .changing = phase { return true }
        return false
    }

    private func change(old: String, to chosen: String) {
        // The call has its own copies; a retry starts from the current PIN.
        current = nil
        phase = .changing
        Task { @MainActor in
            do {
                try await model.changePin(registration, oldPin: old, newPin: chosen)
                phase = .done
            } catch {
                phase = .failed(describe(error), retry: Self.canRetry(error))
            }
        }
    }

    /// A wrong current PIN or no network leave the old PIN in force, so another try can succeed;
    /// a blocked device or a vanished registration cannot.
    private static func canRetry(_ error: Error) -> Bool {
        switch error as? NyckelError {
        case .WrongPin?, .Network?: return true
        default: return false
        }
    }
}
