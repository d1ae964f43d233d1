import Foundation
import NyckelFFI
import Security

/// privacyIDEA push keys in the Keychain: permanent RSA 3072 keys (the Secure Enclave holds only
/// P-256), this device only, tagged with the core's alias; PKCS#1 v1.5 with SHA-256 signatures,
/// what privacyIDEA verifies.
public final class KeychainRsaKeyStore: PlatformRsaKeyStore {
    static let tagPrefix = "app.nyckel.pipush."
    static let bits = 3072

    public init() {}

    /// Creates the key pair and returns its public key as DER SubjectPublicKeyInfo.
    public func createRsaKey(alias: String) throws -> Data {
        try guarded {
            // The core draws a fresh alias per token: an existing key means a mix-up, and a
            // second key under the same tag would make lookups ambiguous.
            guard try find(alias: alias) == nil else { throw KeychainError.duplicate }
            let attributes: [String: Any] = [
                kSecAttrKeyType as String: kSecAttrKeyTypeRSA,
                kSecAttrKeySizeInBits as String: Self.bits,
                kSecUseDataProtectionKeychain as String: true,
                kSecPrivateKeyAttrs as String: [
                    kSecAttrIsPermanent as String: true,
                    kSecAttrApplicationTag as String: Self.tag(alias),
                    // After first unlock: polling signs its requests and may run just after the screen locks.
                    kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
                ] as [String: Any],
            ]
            var error: Unmanaged<CFError>?
            guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
                throw KeychainError.from(error)
            }
            guard let publicKey = SecKeyCopyPublicKey(key),
                  let pkcs1 = SecKeyCopyExternalRepresentation(publicKey, &error) else {
                throw KeychainError.from(error)
            }
            // The Security framework exports PKCS#1 RSAPublicKey; the core wants it wrapped in SPKI.
            return Self.subjectPublicKeyInfo(rsaPublicKey: pkcs1 as Data)
        }
    }

    public func signRsaSha256(alias: String, message: Data) throws -> Data {
        try guarded {
            guard let key = try find(alias: alias) else { throw KeychainError.status(errSecItemNotFound) }
            var error: Unmanaged<CFError>?
            guard let signature = SecKeyCreateSignature(
                key, .rsaSignatureMessagePKCS1v15SHA256, message as CFData, &error
            ) else {
                throw KeychainError.from(error)
            }
            return signature as Data
        }
    }

    public func deleteRsaKey(alias: String) throws {
        try guarded { try KeychainKeyItem.delete(tag: Self.tag(alias)) }
    }

    private func find(alias: String) throws -> SecKey? {
        try KeychainKeyItem.find(tag: Self.tag(alias))
    }

    private static func tag(_ alias: String) -> Data {
        KeychainKeyItem.tag(prefix: tagPrefix, alias: alias)
    }

    /// SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }.
    static func subjectPublicKeyInfo(rsaPublicKey: Data) -> Data {
        let algorithm: [UInt8] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]
        let bitString: [UInt8] = [0x03] + derLength(rsaPublicKey.count + 1) + [0x00] + [UInt8](rsaPublicKey)
        let body: [UInt8] = algorithm + bitString
        return Data([0x30] + derLength(body.count) + body)
    }

    /// A DER length: short form below 128, else the long form with its big-endian bytes.
    static func derLength(_ length: Int) -> [UInt8] {
        if length < 0x80 { return [UInt8(length)] }
        var bytes: [UInt8] = []
        var rest = length
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    /// Keychain failures become a typed platform error in Rust instead of an unexpected one.
    private func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as NyckelError {
            throw error
        } catch {
            throw NyckelError.Platform(reason: "Keychain (RSA): \(error)")
        }
    }
}
