import CryptoKit
import Foundation
import Security

/// The registrations' device keys: permanent P-256 keys in the Secure Enclave, tagged with the
/// core's alias; where there is no Secure Enclave (the Simulator) a Keychain software key instead.
struct DeviceKeys {
    static let tagPrefix = "app.nyckel.device."

    /// Creates the key pair and returns its public key as the 65-byte X9.63 point.
    func create(alias: String) throws -> Data {
        // The core draws a fresh random alias per registration: an existing key means a mix-up,
        // and a second key under the same tag would make lookups ambiguous.
        guard try find(alias: alias) == nil else { throw KeychainError.duplicate }
        let inEnclave = SecureEnclave.isAvailable
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            kCFAllocatorDefault,
            // After first unlock: polling signs its requests and may still run just after the screen locks.
            kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            inEnclave ? .privateKeyUsage : [],
            &error
        ) else {
            throw KeychainError.from(error)
        }
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecUseDataProtectionKeychain as String: true,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: Self.tag(alias),
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        if inEnclave {
            attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave
        }
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeychainError.from(error)
        }
        return try Self.publicKey(of: key)
    }

    func publicKey(alias: String) throws -> Data {
        try Self.publicKey(of: existing(alias: alias))
    }

    /// ECDSA P-256 over SHA-256 of `message` (the Security framework hashes), as ASN.1 DER.
    func sign(alias: String, message: Data) throws -> Data {
        let key = try existing(alias: alias)
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) else {
            throw KeychainError.from(error)
        }
        return signature as Data
    }

    func delete(alias: String) throws {
        try KeychainKeyItem.delete(tag: Self.tag(alias))
    }

    private func existing(alias: String) throws -> SecKey {
        guard let key = try find(alias: alias) else { throw KeychainError.status(errSecItemNotFound) }
        return key
    }

    private func find(alias: String) throws -> SecKey? {
        try KeychainKeyItem.find(tag: Self.tag(alias))
    }

    private static func tag(_ alias: String) -> Data {
        KeychainKeyItem.tag(prefix: tagPrefix, alias: alias)
    }

    private static func publicKey(of privateKey: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(privateKey),
              let bytes = SecKeyCopyExternalRepresentation(publicKey, &error) else {
            throw KeychainError.from(error)
        }
        return bytes as Data
    }
}
