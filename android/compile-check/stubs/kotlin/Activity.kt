// COMPILE-ONLY STUB of androidx.activity:activity / activity-compose 1.9 (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity

import androidx.lifecycle.Lifecycle
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelStore
import androidx.lifecycle.ViewModelStoreOwner
import app.nyckel.compilestub.stub

open class ComponentActivity : android.app.Activity(), LifecycleOwner, ViewModelStoreOwner {
    override val lifecycle: Lifecycle get() = stub()
    override val viewModelStore: ViewModelStore get() = stub()
}

inline fun <reified VM : ViewModel> ComponentActivity.viewModels(): Lazy<VM> = lazy { stub() }
