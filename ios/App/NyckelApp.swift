import SwiftUI
import Nyckel
import NyckelFFI

/// The iOS app: a thin SwiftUI shell over the Rust core.
@main
struct NyckelApp: App {
    @StateObject private var session = AppSession()

    var body: some Scene {
        WindowGroup {
            switch session.state {
            case .ready(let accounts, let approvals, let history, let transfer, let newPhone):
                RootView(accounts: accounts, approvals: approvals, history: history, transfer: transfer, newPhone: newPhone)
            case .failed(let message):
                Text("Nyckel could not open its vault: \(message)").padding()
            }
        }
    }
}

/// Opens the vault once, with the Keychain and Secure Enclave key store, and gives the core the
/// Secure Enclave biometric key for Face ID/Touch ID unlock (PROTOCOL.md §4.8).
@MainActor
final class AppSession: ObservableObject {
    /// Whether the vault opened.
    enum State {
        case ready(AccountsModel, ApprovalsModel, HistoryModel, TransferModel, NewPhoneModel)
        case failed(String)
    }

    @Published var state: State

    init() {
        let directory = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("vault")
        do {
            let core = try openNyckel(directory: directory)
            // The core calls it from its own threads; opening a sealed secret shows the system prompt.
            core.setBiometricKey(key: SecureEnclaveBiometricKey())
            state = .ready(AccountsModel(core: core), ApprovalsModel(core: core), HistoryModel(core: core), TransferModel(core: core), NewPhoneModel(core: core))
        } catch {
            state = .failed(describe(error))
        }
    }
}

/// An open approval request takes the whole screen; otherwise the accounts. Approvals are
/// polled while the app is in the foreground.
struct RootView: View {
    @ObservedObject var accounts: AccountsModel
    @ObservedObject var approvals: ApprovalsModel
    let history: HistoryModel
    let transfer: TransferModel
    let newPhone: NewPhoneModel
    @Environment(\.scenePhase) private var scenePhase

    var body: some View {
        Group {
            if let request = approvals.requests.first {
                // Per request, so a new one starts with an empty PIN and no number picked.
                ApprovalView(model: approvals, request: request, newDevice: newPhone.newDevice(for: request)).id(request.challengeId)
            } else {
                AccountsView(model: accounts, approvals: approvals, history: history, transfer: transfer, newPhone: newPhone)
            }
        }
        .onAppear { approvals.start() }
        .onChange(of: scenePhase) { phase in
            switch phase {
            case .active: approvals.start()
            case .background: approvals.stop()
            default: break
            }
        }
    }
}
