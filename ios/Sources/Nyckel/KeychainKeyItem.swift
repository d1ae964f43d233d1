import Foundation
import LocalAuthentication
import Security

/// Private keys kept as Keychain items under an application tag: the one lookup and removal the
/// device keys, the push keys and the biometric key share.
enum KeychainKeyItem {
    /// The application tag of `alias` under a store's prefix.
    static func tag(prefix: String, alias: String) -> Data {
        Data((prefix + alias).utf8)
    }

    /// The private key under `tag`, or nil when there is none; `context` carries a biometric
    /// prompt's text to the system.
    static func find(tag: Data, context: LAContext? = nil) throws -> SecKey? {
        var query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrKeyClass as String: kSecAttrKeyClassPrivate,
            kSecAttrApplicationTag as String: tag,
            kSecUseDataProtectionKeychain as String: true,
            kSecReturnRef as String: true,
        ]
        if let context {
            query[kSecUseAuthenticationContext as String] = context
        }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let item, CFGetTypeID(item) == SecKeyGetTypeID() else {
            throw KeychainError.status(status)
        }
        return unsafeBitCast(item, to: SecKey.self)
    }

    /// Removes the key pair under `tag`; removing one that is not there is not an error.
    static func delete(tag: Data) throws {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag,
            kSecUseDataProtectionKeychain as String: true,
        ]
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw KeychainError.status(status) }
    }
}
