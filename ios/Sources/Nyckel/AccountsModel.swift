import Foundation
import NyckelFFI

/// The accounts screen's state: codes refreshed every second from the Rust core.
@MainActor
public final class AccountsModel: ObservableObject {
    @Published public private(set) var codes: [CodeInfo] = []
    @Published public var errorText: String?

    private let core: Nyckel
    private var ticker: Task<Void, Never>?

    public init(core: Nyckel) {
        self.core = core
    }

    public func start() {
        ticker?.cancel()
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
        do {
            codes = try core.currentCodes()
        } catch {
            errorText = "\(error)"
        }
    }

    /// Adds what a scanned code carries: one account, or a Google Authenticator export.
    public func add(scanned code: ScannedCode) {
        guard let text = code.text else { return }
        do {
            switch code.payloadType {
            case .otpauth:
                _ = try core.addAccount(uri: text)
            case .otpauthMigration:
                _ = try core.importMigration(uris: [text])
            default:
                errorText = "This QR code is not an authenticator account."
            }
            refresh()
        } catch {
            errorText = "\(error)"
        }
    }

    public func nextCode(for account: AccountInfo) {
        do {
            _ = try core.nextHotpCode(id: account.id)
            refresh()
        } catch {
            errorText = "\(error)"
        }
    }

    public func delete(_ account: AccountInfo) {
        do {
            try core.deleteAccount(id: account.id)
            refresh()
        } catch {
            errorText = "\(error)"
        }
    }
}
