import Foundation
import Security

/// The vault key kept in the iOS Keychain: 32 random bytes in a generic-password item that
/// never leaves this device and is readable after the first unlock (so background refresh works).
struct KeychainVaultKeys {
    static let prefix = "ios-keychain-v1:"
    let service = "app.nyckel.vault"

    func create() throws -> (reference: String, key: Data) {
        var bytes = [UInt8](repeating: 0, count: 32)
        guard SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes) == errSecSuccess else {
            throw KeychainError.status(errSecAllocate)
        }
        let key = Data(bytes)
        let alias = UUID().uuidString
        let attributes: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: alias,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let status = SecItemAdd(attributes as CFDictionary, nil)
        guard status == errSecSuccess else { throw KeychainError.status(status) }
        return (Self.prefix + alias, key)
    }

    func load(reference: String) throws -> Data {
        guard reference.hasPrefix(Self.prefix) else { throw KeychainError.foreignReference }
        let alias = String(reference.dropFirst(Self.prefix.count))
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: alias,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        guard status == errSecSuccess, let data = result as? Data else { throw KeychainError.status(status) }
        return data
    }
}

/// Why a Keychain or Secure Enclave operation failed.
enum KeychainError: Error, CustomStringConvertible {
    case status(OSStatus)
    case foreignReference
    case duplicate
    case failure(String)

    /// The error a Security call reported through its out-parameter, taking ownership of it.
    static func from(_ error: Unmanaged<CFError>?) -> KeychainError {
        .failure(error.map { "\($0.takeRetainedValue())" } ?? "unknown Security framework error")
    }

    var description: String {
        switch self {
        case .status(let status):
            return SecCopyErrorMessageString(status, nil) as String? ?? "OSStatus \(status)"
        case .foreignReference:
            return "not a Keychain vault key reference"
        case .duplicate:
            return "a key already exists under this alias"
        case .failure(let reason):
            return reason
        }
    }
}
