import CryptoKit
import Foundation
import LocalAuthentication
import NyckelFFI
import Security

/// The biometric key of biometric approval (PROTOCOL.md §4.8): one Secure Enclave P-256 key per
/// registration whose private-key use requires `.biometryCurrentSet`, so it opens only after
/// Face ID / Touch ID and is invalidated when the enrolled biometrics change.
///
/// The Secure Enclave holds only P-256 keys, so `B` is ECIES
/// (`.eciesEncryptionCofactorVariableIVX963SHA256AESGCM`: an ephemeral ECDH with the enclave key,
/// X9.63 KDF, AES-GCM). ECIES here takes no associated data, so the binding the core asks for is
/// carried inside the authenticated plaintext: `SHA-256(aad) ‖ plaintext`, checked in constant
/// time on open. Sealing uses the public key and needs no prompt; opening prompts.
///
/// Nyckel calls `open` from a background thread; the system shows its prompt and the call
/// blocks until the user answers. There is no Simulator fallback: without a Secure Enclave the
/// key cannot be made and biometrics are unavailable.
public final class SecureEnclaveBiometricKey: PlatformBiometricKey {
    static let tagPrefix = "app.nyckel.biometric."
    private static let algorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    public init() {}

    public func createKey(alias: String) throws {
        guard SecureEnclave.isAvailable else {
            throw NyckelError.BiometricUnavailable(reason: "this device has no Secure Enclave")
        }
        let context = LAContext()
        var policyError: NSError?
        guard context.canEvaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, error: &policyError) else {
            throw Self.mapped(policyError)
        }
        try deleteKey(alias: alias)
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            kCFAllocatorDefault,
            // Only while unlocked, never migrated to another device; gone if the passcode is removed.
            kSecAttrAccessibleWhenPasscodeSetThisDeviceOnly,
            [.privateKeyUsage, .biometryCurrentSet],
            &error
        ) else {
            throw Self.mapped(error?.takeRetainedValue())
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecUseDataProtectionKeychain as String: true,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: Self.tag(alias),
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        guard SecKeyCreateRandomKey(attributes as CFDictionary, &error) != nil else {
            throw Self.mapped(error?.takeRetainedValue())
        }
    }

    public func seal(alias: String, plaintext: Data, aad: Data, reason: String) throws -> Data {
        let privateKey = try key(alias: alias, context: nil)
        guard let publicKey = SecKeyCopyPublicKey(privateKey) else {
            throw NyckelError.BiometricInvalidated(reason: "the biometric key has no public key")
        }
        var bound = Data(SHA256.hash(data: aad))
        bound.append(plaintext)
        var error: Unmanaged<CFError>?
        guard let sealed = SecKeyCreateEncryptedData(publicKey, Self.algorithm, bound as CFData, &error) else {
            throw Self.mapped(error?.takeRetainedValue())
        }
        return sealed as Data
    }

    public func open(alias: String, sealed: Data, aad: Data, reason: String) throws -> Data {
        let context = LAContext()
        context.localizedReason = reason
        context.localizedFallbackTitle = "Use PIN"
        let privateKey = try key(alias: alias, context: context)
        var error: Unmanaged<CFError>?
        guard let opened = SecKeyCreateDecryptedData(privateKey, Self.algorithm, sealed as CFData, &error) else {
            throw Self.mapped(error?.takeRetainedValue())
        }
        let plain = opened as Data
        let expected = Data(SHA256.hash(data: aad))
        guard plain.count >= expected.count, Self.constantTimeEqual(plain.prefix(expected.count), expected) else {
            throw NyckelError.Corrupt(reason: "the sealed secret belongs to another registration")
        }
        return plain.dropFirst(expected.count)
    }

    public func deleteKey(alias: String) throws {
        do {
            try KeychainKeyItem.delete(tag: Self.tag(alias))
        } catch {
            throw NyckelError.Platform(reason: "Keychain: \(error)")
        }
    }

    /// The private key under `alias`; `context` carries the prompt's text to the system.
    private func key(alias: String, context: LAContext?) throws -> SecKey {
        let found: SecKey?
        do {
            found = try KeychainKeyItem.find(tag: Self.tag(alias), context: context)
        } catch {
            throw NyckelError.Platform(reason: "Keychain: \(error)")
        }
        // With .biometryCurrentSet, a change of enrolled biometrics makes the key unusable;
        // a key that is gone altogether means the same to the user.
        guard let found else { throw NyckelError.BiometricInvalidated(reason: "no biometric key under \(alias)") }
        return found
    }

    /// What LocalAuthentication or the Security framework said, as the typed error Rust expects.
    static func mapped(_ error: Error?) -> NyckelError {
        guard let error else { return NyckelError.Platform(reason: "unknown Security framework failure") }
        let nsError = error as NSError
        if nsError.domain == LAErrorDomain {
            switch LAError.Code(rawValue: nsError.code) {
            case .userCancel, .appCancel, .systemCancel, .userFallback:
                return NyckelError.BiometricCancelled(reason: nsError.localizedDescription)
            case .biometryLockout:
                return NyckelError.BiometricLockout(reason: nsError.localizedDescription)
            case .biometryNotAvailable, .biometryNotEnrolled, .passcodeNotSet:
                return NyckelError.BiometricUnavailable(reason: nsError.localizedDescription)
            default:
                return NyckelError.Platform(reason: nsError.localizedDescription)
            }
        }
        if nsError.domain == NSOSStatusErrorDomain {
            switch OSStatus(nsError.code) {
            case errSecUserCanceled:
                return NyckelError.BiometricCancelled(reason: nsError.localizedDescription)
            case errSecItemNotFound, errSecInvalidKeyRef:
                return NyckelError.BiometricInvalidated(reason: nsError.localizedDescription)
            case errSecAuthFailed:
                // The system gave up on the user's attempts: the PIN is the way on.
                return NyckelError.BiometricLockout(reason: nsError.localizedDescription)
            case errSecDecode, errSecParam:
                // The ECIES ciphertext (or its GCM tag) did not check out.
                return NyckelError.Corrupt(reason: nsError.localizedDescription)
            default:
                break
            }
        }
        return NyckelError.Platform(reason: nsError.localizedDescription)
    }

    private static func constantTimeEqual(_ left: Data, _ right: Data) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(left, right) {
            difference |= a ^ b
        }
        return difference == 0
    }

    private static func tag(_ alias: String) -> Data {
        KeychainKeyItem.tag(prefix: tagPrefix, alias: alias)
    }
}
