package app.nyckel.android

import android.content.Context
import android.content.pm.PackageManager
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.PublicKey
import java.security.Signature
import java.security.spec.ECGenParameterSpec

/**
 * The registrations' device keys in Android Keystore: non-exportable EC P-256 signing keys
 * (in StrongBox when the device has one), one per registration, under the core's alias.
 */
internal class AndroidDeviceKeys(private val context: Context) {
    private val keyStore: KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    /** Creates the key pair and returns its public key as DER SubjectPublicKeyInfo. */
    fun create(alias: String): ByteArray {
        // The core draws a fresh random alias per registration: an existing entry means a
        // mix-up, and generating over it would silently replace another registration's key.
        check(!keyStore.containsAlias(alias)) { "a key already exists under $alias" }
        val strongBox = context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)
        val pair = try {
            generate(alias, strongBox)
        } catch (unavailable: StrongBoxUnavailableException) {
            // Advertised StrongBox can still refuse (busy, out of slots): the TEE is the next best.
            generate(alias, false)
        }
        return pair.public.encoded
    }

    fun publicKey(alias: String): ByteArray = publicKeyOf(alias).encoded

    /** ECDSA over SHA-256 of `message`; Keystore does the hashing and returns ASN.1 DER. */
    fun sign(alias: String, message: ByteArray): ByteArray {
        val key = keyStore.getKey(alias, null) as? PrivateKey ?: throw IllegalStateException("no device key under $alias")
        return Signature.getInstance(SIGNATURE).run {
            initSign(key)
            update(message)
            sign()
        }
    }

    fun delete(alias: String) {
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun publicKeyOf(alias: String): PublicKey =
        keyStore.getCertificate(alias)?.publicKey ?: throw IllegalStateException("no device key under $alias")

    private fun generate(alias: String, strongBox: Boolean) =
        KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, PROVIDER).run {
            initialize(
                KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
                    .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                    .setDigests(KeyProperties.DIGEST_SHA256)
                    .setIsStrongBoxBacked(strongBox)
                    .build(),
            )
            generateKeyPair()
        }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val SIGNATURE = "SHA256withECDSA"
    }
}
