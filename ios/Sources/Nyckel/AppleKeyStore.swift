import Foundation
import NyckelFFI

/// The platform key store of the iOS app: the vault key in the Keychain.
public final class AppleKeyStore: PlatformKeyStore {
    private let vaultKeys = KeychainVaultKeys()

    public init() {}

    public func createVaultKey() throws -> StoredVaultKey {
        do {
            let created = try vaultKeys.create()
            return StoredVaultKey(reference: created.reference, key: created.key)
        } catch {
            throw NyckelError.Platform(reason: "Keychain: \(error)")
        }
    }

    public func vaultKey(reference: String) throws -> Data {
        do {
            return try vaultKeys.load(reference: reference)
        } catch {
            throw NyckelError.Platform(reason: "Keychain: \(error)")
        }
    }
}
