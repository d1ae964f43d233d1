package app.nyckel.android

import android.content.Context
import android.os.Build
import android.os.Looper
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import androidx.biometric.BiometricManager
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import app.nyckel.ffi.NyckelException
import app.nyckel.ffi.PlatformBiometricKey
import java.security.KeyStore
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The biometric key of biometric approval (PROTOCOL.md §4.8): one Android Keystore AES-256-GCM
 * key per registration, created with `setUserAuthenticationRequired(true)` (each use needs a
 * fresh strong-biometric authentication) and `setInvalidatedByBiometricEnrollment(true)` (adding
 * or removing a fingerprint or face invalidates it for good). Every seal and open initialises a
 * cipher, has `BiometricPrompt` authorise exactly that cipher (a `CryptoObject`), then runs it:
 * `B = version ‖ IV ‖ AES-GCM(K_bio, S)` with the core's associated data.
 *
 * Give it to Nyckel with `nyckel.setBiometricKey(AndroidBiometricKey(context) { currentActivity })`;
 * `activity` returns the resumed `FragmentActivity` that hosts the prompt (or null when none is
 * in front). Nyckel calls it from a background thread and it blocks there until the user answers;
 * it refuses to run on the main thread, where waiting would deadlock the prompt.
 */
class AndroidBiometricKey(
    context: Context,
    private val activity: () -> FragmentActivity?,
) : PlatformBiometricKey {
    private val appContext = context.applicationContext
    private val keyStore: KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    override fun createKey(alias: String): Unit = guarded {
        val status = BiometricManager.from(appContext).canAuthenticate(BIOMETRIC_STRONG)
        if (status != BiometricManager.BIOMETRIC_SUCCESS) {
            throw NyckelException.BiometricUnavailable("no strong biometrics on this phone (status $status)")
        }
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setUserAuthenticationRequired(true)
            .setInvalidatedByBiometricEnrollment(true)
            .apply {
                // Every use authenticated (timeout 0), by a strong biometric only — not the screen lock.
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                    setUserAuthenticationParameters(0, KeyProperties.AUTH_BIOMETRIC_STRONG)
                }
            }
            .build()
        KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER).apply { init(spec) }.generateKey()
    }

    override fun seal(alias: String, plaintext: ByteArray, aad: ByteArray, reason: String): ByteArray = guarded {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        // Keystore draws the IV: an auth-bound key refuses caller-chosen IVs for encryption.
        cipher.init(Cipher.ENCRYPT_MODE, key(alias))
        val authorised = authenticate(cipher, reason)
        authorised.updateAAD(aad)
        val body = authorised.doFinal(plaintext)
        byteArrayOf(VERSION) + authorised.iv + body
    }

    override fun open(alias: String, sealed: ByteArray, aad: ByteArray, reason: String): ByteArray = guarded {
        if (sealed.size < 1 + IV_LEN + TAG_LEN || sealed[0] != VERSION) {
            throw NyckelException.Corrupt("the sealed secret is malformed")
        }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(alias), GCMParameterSpec(TAG_LEN * 8, sealed, 1, IV_LEN))
        val authorised = authenticate(cipher, reason)
        authorised.updateAAD(aad)
        try {
            authorised.doFinal(sealed, 1 + IV_LEN, sealed.size - 1 - IV_LEN)
        } catch (tag: AEADBadTagException) {
            throw NyckelException.Corrupt("the sealed secret does not authenticate")
        }
    }

    override fun deleteKey(alias: String): Unit = guarded {
        if (keyStore.containsAlias(alias)) {
            keyStore.deleteEntry(alias)
        }
    }

    private fun key(alias: String): SecretKey =
        keyStore.getKey(alias, null) as? SecretKey
            ?: throw NyckelException.BiometricInvalidated("no biometric key under $alias")

    /** Shows BiometricPrompt for `cipher` on the main thread and waits for the user's answer. */
    private fun authenticate(cipher: Cipher, reason: String): Cipher {
        if (Looper.myLooper() == Looper.getMainLooper()) {
            throw NyckelException.Platform("biometric calls must not run on the main thread")
        }
        val host = activity() ?: throw NyckelException.BiometricUnavailable("no screen to show the prompt on")
        val result = CompletableFuture<Cipher>()
        val executor = ContextCompat.getMainExecutor(host)
        executor.execute {
            val callback = object : BiometricPrompt.AuthenticationCallback() {
                override fun onAuthenticationSucceeded(outcome: BiometricPrompt.AuthenticationResult) {
                    val authorised = outcome.cryptoObject?.cipher
                    if (authorised == null) {
                        result.completeExceptionally(NyckelException.Platform("the prompt returned no cipher"))
                    } else {
                        result.complete(authorised)
                    }
                }

                override fun onAuthenticationError(code: Int, message: CharSequence) {
                    result.completeExceptionally(promptError(code, message.toString()))
                }
                // onAuthenticationFailed (a finger not recognised) keeps the prompt up: nothing to do.
            }
            val info = BiometricPrompt.PromptInfo.Builder()
                .setTitle("Nyckel")
                .setSubtitle(reason)
                .setNegativeButtonText("Use PIN")
                .setAllowedAuthenticators(BIOMETRIC_STRONG)
                .build()
            try {
                BiometricPrompt(host, executor, callback).authenticate(info, BiometricPrompt.CryptoObject(cipher))
            } catch (error: Exception) {
                result.completeExceptionally(error)
            }
        }
        return try {
            result.get()
        } catch (failed: ExecutionException) {
            throw failed.cause ?: failed
        }
    }

    private fun promptError(code: Int, message: String): NyckelException = when (code) {
        BiometricPrompt.ERROR_USER_CANCELED, BiometricPrompt.ERROR_NEGATIVE_BUTTON, BiometricPrompt.ERROR_CANCELED,
        BiometricPrompt.ERROR_TIMEOUT -> NyckelException.BiometricCancelled(message)
        BiometricPrompt.ERROR_LOCKOUT, BiometricPrompt.ERROR_LOCKOUT_PERMANENT -> NyckelException.BiometricLockout(message)
        BiometricPrompt.ERROR_NO_BIOMETRICS, BiometricPrompt.ERROR_HW_NOT_PRESENT, BiometricPrompt.ERROR_HW_UNAVAILABLE,
        BiometricPrompt.ERROR_NO_DEVICE_CREDENTIAL, BiometricPrompt.ERROR_SECURITY_UPDATE_REQUIRED ->
            NyckelException.BiometricUnavailable(message)
        else -> NyckelException.Platform("BiometricPrompt error $code: $message")
    }

    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (error: NyckelException) {
        throw error
    } catch (invalidated: KeyPermanentlyInvalidatedException) {
        // Biometrics were added or removed since the key was made: Rust drops B, the PIN remains.
        throw NyckelException.BiometricInvalidated("the biometric key was invalidated: biometrics changed")
    } catch (error: Exception) {
        throw NyckelException.Platform("Android Keystore: ${error.message ?: error.javaClass.simpleName}")
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val VERSION: Byte = 1
        const val IV_LEN = 12
        const val TAG_LEN = 16
    }
}
