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
            case .ready(let accounts):
                AccountsView(model: accounts)
            case .failed(let message):
                Text("Nyckel could not open its vault: \(message)").padding()
            case .opening:
                ProgressView()
            }
        }
    }
}

/// Opens the vault once, with the Keychain-backed key store.
@MainActor
final class AppSession: ObservableObject {
    enum State {
        case opening
        case ready(AccountsModel)
        case failed(String)
    }

    @Published var state: State = .opening

    init() {
        let directory = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("vault").path
        do {
            let core = try Nyckel.open(directory: directory, keyStore: AppleKeyStore(), clock: DeviceClock())
            state = .ready(AccountsModel(core: core))
        } catch {
            state = .failed("\(error)")
        }
    }
}
