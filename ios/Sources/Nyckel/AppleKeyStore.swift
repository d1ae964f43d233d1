import Foundation
import NyckelFFI

/// The platform key store of the iOS app: the vault key in the Keychain, and the registrations'
/// P-256 device keys in the Secure Enclave (a Keychain software key on the Simulator).
public final class AppleKeyStore: PlatformKeyStore {
    private let vaultKeys = KeychainVaultKeys()
    private let deviceKeys = DeviceKeys()

    public init() {}

    public func createVaultKey() throws -> StoredVaultKey {
        try guarded {
            let created = try vaultKeys.create()
            return StoredVaultKey(reference: created.reference, key: created.key)
        }
    }

    public func vaultKey(reference: String) throws -> Data {
        try guarded { try vaultKeys.load(reference: reference) }
    }

    public func createDeviceKey(alias: String) throws -> Data {
        try guarded { try deviceKeys.create(alias: alias) }
    }

    public func devicePublicKey(alias: String) throws -> Data {
        try guarded { try deviceKeys.publicKey(alias: alias) }
    }

    public func signWithDeviceKey(alias: String, message: Data) throws -> Data {
        try guarded { try deviceKeys.sign(alias: alias, message: message) }
    }

    public func deleteDeviceKey(alias: String) throws {
        try guarded { try deviceKeys.delete(alias: alias) }
    }

    /// Keychain failures become a typed platform error in Rust instead of an unexpected one.
    private func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as NyckelError {
            throw error
        } catch {
            throw NyckelError.Platform(reason: "Keychain: \(error)")
        }
    }
}

/// Opens (or creates on first run) the vault in `directory` with the Keychain and Secure
/// Enclave key store; the platform name is what the server shows for this device. privacyIDEA
/// push keys go to the Keychain too (`KeychainRsaKeyStore`), set on every open: the core looks
/// every token's key up in the store that is set, so it must not change between runs.
public func openNyckel(directory: URL) throws -> Nyckel {
    let version = ProcessInfo.processInfo.operatingSystemVersion
    #if os(iOS)
    let system = "iOS"
    #else
    let system = "macOS"
    #endif
    let core = try Nyckel.open(
        directory: directory.path,
        keyStore: AppleKeyStore(),
        clock: DeviceClock(),
        platform: "\(system) \(version.majorVersion).\(version.minorVersion)"
    )
    core.setRsaKeyStore(store: KeychainRsaKeyStore())
    return core
}
