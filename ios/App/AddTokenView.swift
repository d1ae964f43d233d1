import SwiftUI
import Nyckel
import NyckelFFI

/// "Add token" for a scanned privacyIDEA push or tiqr enrolment code: names the server the code
/// points at, then asks the PIN — for push an optional app PIN (a gate on this phone only,
/// required when the code demands one), for tiqr the tiqr PIN the server checks — chosen twice,
/// and enrolls.
struct AddTokenView: View {
    @ObservedObject var model: AccountsModel
    let payload: String
    let tiqr: Bool
    let close: () -> Void

    private enum Phase {
        /// Push: the app PIN is optional until `pinRequired`; tiqr: the PIN is asked.
        case idle(pinRequired: Bool)
        case enrolling
        case done(TokenInfo)
        case failed(String)
    }

    @State private var phase = Phase.idle(pinRequired: false)
    @State private var choosingPin = false

    var body: some View {
        let info = TokenCodeInfo(payload: payload)
        NavigationStack {
            ScrollView {
                VStack(spacing: 16) {
                    if let issuer = info.issuer {
                        Text(issuer).font(.headline)
                    }
                    Text("Server: \(info.host ?? "unknown")")
                    Text("As the QR code says; only add it if you started this at that server.")
                        .font(.caption).foregroundStyle(.secondary).multilineTextAlignment(.center)
                    content
                }
                .padding()
            }
            .navigationTitle(tiqr ? "Add tiqr token" : "Add privacyIDEA push token")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: close)
                }
            }
        }
        .interactiveDismissDisabled(isEnrolling)
    }

    @ViewBuilder
    private var content: some View {
        switch phase {
        case .idle(let pinRequired):
            if tiqr {
                Text("The tiqr PIN is checked by the server: a wrong one counts there.")
                    .font(.caption).foregroundStyle(.secondary)
                NewPinPad(chooseTitle: "Choose your tiqr PIN") { enroll(pin: $0) }
            } else if choosingPin || pinRequired {
                if pinRequired {
                    Text("This token requires an app PIN.").foregroundStyle(.red)
                }
                Text(localGateNotice()).font(.caption).foregroundStyle(.secondary)
                NewPinPad(chooseTitle: "Choose an app PIN") { enroll(pin: $0) }
                if !pinRequired {
                    Button("Back") { choosingPin = false }
                }
            } else {
                Text("An app PIN is optional. \(localGateNotice())").font(.caption).foregroundStyle(.secondary)
                Button("Add without app PIN") { enroll(pin: nil) }.buttonStyle(.borderedProminent)
                Button("Set an app PIN") { choosingPin = true }.buttonStyle(.bordered)
            }
        case .enrolling:
            ProgressView("Adding…")
        case .done(let token):
            Text("Added \(token.service.isEmpty ? token.serverHost : token.service).").font(.headline)
            Text("Server: \(token.serverHost)")
            if !token.account.isEmpty { Text("Account: \(token.account)") }
            if !token.serial.isEmpty { Text("Serial: \(token.serial)") }
            Text(pinText(token.pinCheck)).font(.caption).foregroundStyle(.secondary)
            Button("Done", action: close).buttonStyle(.borderedProminent)
        case .failed(let message):
            Text(message).foregroundStyle(.red).multilineTextAlignment(.center)
            Text("Nothing was stored on this phone.").font(.caption).foregroundStyle(.secondary)
            Button("Close", action: close)
        }
    }

    private var isEnrolling: Bool {
        if case .enrolling = phase { return true }
        return false
    }

    private func pinText(_ check: PinCheck) -> String {
        switch check {
        case PinCheck.none: return "Requests are approved without a PIN."
        case .localGate: return "Requests ask the app PIN. \(localGateNotice())"
        case .server: return "Requests ask the tiqr PIN, which the server checks."
        }
    }

    private func enroll(pin: String?) {
        phase = .enrolling
        Task { @MainActor in
            do {
                phase = .done(try await model.enrollToken(payload: payload, pin: pin))
            } catch {
                // A push code that demands the app PIN: ask for one instead of failing.
                phase = pin == nil && isPinRequired(error) ? .idle(pinRequired: true) : .failed(describe(error))
            }
        }
    }
}
