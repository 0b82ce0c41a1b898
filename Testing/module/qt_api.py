"""Qt 5.15 / CTK / qMRML widget API as seen from Python (PythonQt) in 3D Slicer.

Read from the C++ headers (see each class's "source"). Per class:
  bases       direct base classes (chain followed by ``members``)
  signals     normalized signatures as used in ``connect("sig(args)", ...)`` strings
  slots       public slots (callable from Python)
  properties  Q_PROPERTY names (readable/settable as attributes: ``w.text = "x"``)
  methods     other names callable from Python: Q_INVOKABLEs always; for Qt's own classes also the
              plain public C++ methods, because PythonQt's generated wrappers
              (commontk/PythonQt generated_cpp_511/com_trolltech_qt_gui*, used for Qt >= 5.11)
              expose them. CTK and qMRML classes get only a constructor/destructor wrapper
              (CTK CMake/ctkWrapPythonQt.py: "generate PythonQt decorator for constructor and
              destructor of classes"), so for them only slots/signals/properties/Q_INVOKABLEs exist.
  not_exposed (CTK/qMRML only) plain public C++ methods that are NOT reachable from Python
              (kept so a test can explain a failure; never counted as members)
  qt6_only    names absent in Qt 5.15 (to reject explicitly)
  deprecated  present in 5.15 but deprecated (still members; removed in Qt 6)

PythonQt attribute lookup order is property -> method -> enum (commontk/PythonQt
src/PythonQtClassInfo.cpp, PythonQtClassInfo::member), so ``combo.currentData`` returns the
property value (QComboBox has ``Q_PROPERTY(QVariant currentData READ currentData)`` in 5.15),
not a bound method.
"""

QT515 = "LeeKyuHyuk/QT-Windows-Static-Build {} (Qt 5.15 tree, commit {})"
_A5 = "a5caa019fb54305f9d2f098f7c555cedaccffa35"   # verified 5.15 (QT_DEPRECATED_SINCE(5, 15) markers)
_7E = "7e020319fda561d26b08084e3ebe9da9e7ba3338"   # another stored commit of the same repo
_42 = "42c312ccb4d3b08bb51969e86f0d20fa344b6614"   # 5.13/5.14-era commit of the same repo
_9D = "9d04bed41e1d757cf965c6b60a91368bb1b91fb0"
CTK = "commontk/CTK {} (commit 5056664a20a3d0a393bb6d91f040525581e0dcdf = Slicer's pinned CTK; identical at CTK HEAD 868d56c7)"
SLICER = "Slicer/Slicer {} (HEAD 583e9b37d50ead7daf7b783dce465ccaecec8809; Slicer_REQUIRED_QT_VERSION defaults to 5.15)"

QT_API = {
    # ------------------------------------------------------------------ Qt core
    "QObject": {
        "bases": [],
        "signals": ["destroyed(QObject*)", "destroyed()", "objectNameChanged(QString)"],
        "slots": ["deleteLater"],
        "properties": ["objectName"],
        "methods": [
            "objectName", "setObjectName", "parent", "setParent", "children", "findChild", "findChildren",
            "property", "setProperty", "dynamicPropertyNames", "blockSignals", "signalsBlocked", "inherits",
            "isWidgetType", "isWindowType", "metaObject", "installEventFilter", "removeEventFilter",
            "startTimer", "killTimer", "thread", "moveToThread", "event", "eventFilter",
            "dumpObjectInfo", "dumpObjectTree", "tr",
            # added by PythonQt to every wrapped QObject (PythonQtInstanceWrapper / PythonQtStdDecorators)
            "connect", "disconnect", "className", "help", "delete",
        ],
        "source": "qt/qtbase src/corelib/kernel/qobject.h (Qt 5.15) -- NOT re-read this session: from Qt 5.15 "
                  "docs knowledge; connect/disconnect/className/help/delete are PythonQt additions "
                  "(commontk/PythonQt patched-9 src/PythonQtStdDecorators.h: connect/disconnect/parent/setParent/children/findChild/findChildren/property/setProperty/metaObject; src/PythonQtInstanceWrapper.cpp: className/help/delete)",
    },
    "QWidget": {
        "bases": ["QObject"],  # also QPaintDevice (no Qt meta members)
        "signals": ["windowTitleChanged(QString)", "windowIconChanged(QIcon)",
                    "windowIconTextChanged(QString)", "customContextMenuRequested(QPoint)"],
        "slots": ["setEnabled", "setDisabled", "setWindowModified", "setWindowTitle", "setStyleSheet",
                  "setFocus", "update", "repaint", "setVisible", "setHidden", "show", "hide",
                  "showMinimized", "showMaximized", "showFullScreen", "showNormal", "close", "raise",
                  "lower"],
        "properties": [
            "modal", "windowModality", "enabled", "geometry", "frameGeometry", "normalGeometry", "x", "y",
            "pos", "frameSize", "size", "width", "height", "rect", "childrenRect", "childrenRegion",
            "sizePolicy", "minimumSize", "maximumSize", "minimumWidth", "minimumHeight", "maximumWidth",
            "maximumHeight", "sizeIncrement", "baseSize", "palette", "font", "cursor", "mouseTracking",
            "tabletTracking", "isActiveWindow", "focusPolicy", "focus", "contextMenuPolicy",
            "updatesEnabled", "visible", "minimized", "maximized", "fullScreen", "sizeHint",
            "minimumSizeHint", "acceptDrops", "windowTitle", "windowIcon", "windowIconText",
            "windowOpacity", "windowModified", "toolTip", "toolTipDuration", "statusTip", "whatsThis",
            "accessibleName", "accessibleDescription", "layoutDirection", "autoFillBackground",
            "styleSheet", "locale", "windowFilePath", "inputMethodHints",
        ],
        "methods": [
            "grab",  # Q_INVOKABLE
            "winId", "effectiveWinId", "style", "setStyle", "isTopLevel", "isWindow", "isModal",
            "windowModality", "setWindowModality", "isEnabled", "isEnabledTo", "frameGeometry",
            "geometry", "normalGeometry", "x", "y", "pos", "frameSize", "size", "width", "height", "rect",
            "childrenRect", "childrenRegion", "minimumSize", "maximumSize", "minimumWidth",
            "minimumHeight", "maximumWidth", "maximumHeight", "setMinimumSize", "setMaximumSize",
            "setMinimumWidth", "setMinimumHeight", "setMaximumWidth", "setMaximumHeight",
            "sizeIncrement", "setSizeIncrement", "baseSize", "setBaseSize", "setFixedSize",
            "setFixedWidth", "setFixedHeight", "mapToGlobal", "mapFromGlobal", "mapToParent",
            "mapFromParent", "mapTo", "mapFrom", "window", "nativeParentWidget", "topLevelWidget",
            "palette", "setPalette", "setBackgroundRole", "backgroundRole", "setForegroundRole",
            "foregroundRole", "font", "setFont", "fontMetrics", "fontInfo", "cursor", "setCursor",
            "unsetCursor", "setMouseTracking", "hasMouseTracking", "underMouse", "setTabletTracking",
            "hasTabletTracking", "setMask", "mask", "clearMask", "render", "graphicsEffect",
            "setGraphicsEffect", "grabGesture", "ungrabGesture", "styleSheet", "windowTitle",
            "setWindowIcon", "windowIcon", "setWindowIconText", "windowIconText", "setWindowRole",
            "windowRole", "setWindowFilePath", "windowFilePath", "setWindowOpacity", "windowOpacity",
            "isWindowModified", "setToolTip", "toolTip", "setToolTipDuration", "toolTipDuration",
            "setStatusTip", "statusTip", "setWhatsThis", "whatsThis", "accessibleName",
            "setAccessibleName", "accessibleDescription", "setAccessibleDescription",
            "setLayoutDirection", "layoutDirection", "unsetLayoutDirection", "setLocale", "locale",
            "unsetLocale", "isRightToLeft", "isLeftToRight", "activateWindow", "clearFocus",
            "focusPolicy", "setFocusPolicy", "hasFocus", "setTabOrder", "setFocusProxy", "focusProxy",
            "contextMenuPolicy", "setContextMenuPolicy", "grabMouse", "releaseMouse", "grabKeyboard",
            "releaseKeyboard", "grabShortcut", "releaseShortcut", "setShortcutEnabled",
            "setShortcutAutoRepeat", "mouseGrabber", "keyboardGrabber", "updatesEnabled",
            "setUpdatesEnabled", "graphicsProxyWidget", "stackUnder", "move", "resize", "setGeometry",
            "saveGeometry", "restoreGeometry", "adjustSize", "isVisible", "isVisibleTo", "isHidden",
            "isMinimized", "isMaximized", "isFullScreen", "windowState", "setWindowState",
            "overrideWindowState", "sizeHint", "minimumSizeHint", "sizePolicy", "setSizePolicy",
            "heightForWidth", "hasHeightForWidth", "visibleRegion", "setContentsMargins",
            "getContentsMargins", "contentsMargins", "contentsRect", "layout", "setLayout",
            "updateGeometry", "scroll", "focusWidget", "nextInFocusChain", "previousInFocusChain",
            "acceptDrops", "setAcceptDrops", "addAction", "addActions", "insertActions", "insertAction",
            "removeAction", "actions", "parentWidget", "setWindowFlags", "windowFlags", "setWindowFlag",
            "overrideWindowFlags", "windowType", "find", "childAt", "setAttribute", "testAttribute",
            "ensurePolished", "isAncestorOf", "autoFillBackground", "setAutoFillBackground",
            "backingStore", "windowHandle", "screen", "createWindowContainer", "inputMethodQuery",
            "inputMethodHints", "setInputMethodHints",
        ],
        "deprecated": ["getContentsMargins"],
        "source": QT515.format("qtbase/src/widgets/kernel/qwidget.h", _A5),
    },
    "QFrame": {
        "bases": ["QWidget"],
        "signals": [],
        "slots": [],
        "properties": ["frameShape", "frameShadow", "lineWidth", "midLineWidth", "frameWidth", "frameRect"],
        "methods": ["frameStyle", "setFrameStyle", "frameWidth", "frameShape", "setFrameShape",
                    "frameShadow", "setFrameShadow", "lineWidth", "setLineWidth", "midLineWidth",
                    "setMidLineWidth", "frameRect", "setFrameRect"],
        "source": QT515.format("qtbase/src/widgets/widgets/qframe.h", _7E),
    },
    # ------------------------------------------------------------------ Qt widgets used by the .ui
    "QLabel": {
        "bases": ["QFrame"],
        "signals": ["linkActivated(QString)", "linkHovered(QString)"],
        "slots": ["setText", "setPixmap", "setPicture", "setMovie", "setNum", "clear"],
        "properties": ["text", "textFormat", "pixmap", "scaledContents", "alignment", "wordWrap", "margin",
                       "indent", "openExternalLinks", "textInteractionFlags", "hasSelectedText",
                       "selectedText"],
        "methods": ["text", "pixmap", "picture", "movie", "textFormat", "setTextFormat", "alignment",
                    "setAlignment", "setWordWrap", "wordWrap", "indent", "setIndent", "margin", "setMargin",
                    "hasScaledContents", "setScaledContents", "setBuddy", "buddy", "openExternalLinks",
                    "setOpenExternalLinks", "setTextInteractionFlags", "textInteractionFlags",
                    "setSelection", "hasSelectedText", "selectedText", "selectionStart"],
        "source": QT515.format("qtbase/src/widgets/widgets/qlabel.h", _A5),
    },
    "QAbstractButton": {
        "bases": ["QWidget"],
        "signals": ["pressed()", "released()", "clicked(bool)", "clicked()", "toggled(bool)"],
        "slots": ["setIconSize", "animateClick", "click", "toggle", "setChecked"],
        "properties": ["text", "icon", "iconSize", "shortcut", "checkable", "checked", "autoRepeat",
                       "autoExclusive", "autoRepeatDelay", "autoRepeatInterval", "down"],
        "methods": ["setText", "text", "setIcon", "icon", "iconSize", "setShortcut", "shortcut",
                    "setCheckable", "isCheckable", "isChecked", "setDown", "isDown", "setAutoRepeat",
                    "autoRepeat", "setAutoRepeatDelay", "autoRepeatDelay", "setAutoRepeatInterval",
                    "autoRepeatInterval", "setAutoExclusive", "autoExclusive", "group"],
        # clicked(bool checked = false): moc also registers clicked() (default argument)
        "source": QT515.format("qtbase/src/widgets/widgets/qabstractbutton.h", _A5),
    },
    "QPushButton": {
        "bases": ["QAbstractButton"],
        "signals": [],
        "slots": ["showMenu"],
        "properties": ["autoDefault", "default", "flat"],
        "methods": ["autoDefault", "setAutoDefault", "isDefault", "setDefault", "setMenu", "menu",
                    "setFlat", "isFlat"],
        "source": QT515.format("qtbase/src/widgets/widgets/qpushbutton.h", _A5),
    },
    "QCheckBox": {
        "bases": ["QAbstractButton"],
        "signals": ["stateChanged(int)"],
        "slots": [],
        "properties": ["tristate"],
        "methods": ["setTristate", "isTristate", "checkState", "setCheckState"],
        "qt6_only": ["checkStateChanged(Qt::CheckState)", "checkStateChanged"],  # Qt 6.7
        "source": QT515.format("qtbase/src/widgets/widgets/qcheckbox.h", _7E)
                  + "; QCheckBox API unchanged 5.10..5.15",
    },
    "QComboBox": {
        "bases": ["QWidget"],
        "signals": ["editTextChanged(QString)", "activated(int)", "textActivated(QString)",
                    "highlighted(int)", "textHighlighted(QString)", "currentIndexChanged(int)",
                    "currentIndexChanged(QString)", "currentTextChanged(QString)", "activated(QString)",
                    "highlighted(QString)"],
        "slots": ["clear", "clearEditText", "setEditText", "setCurrentIndex", "setCurrentText"],
        "properties": ["editable", "count", "currentText", "currentIndex", "currentData", "maxVisibleItems",
                       "maxCount", "insertPolicy", "sizeAdjustPolicy", "minimumContentsLength",
                       "iconSize", "placeholderText", "autoCompletion", "autoCompletionCaseSensitivity",
                       "duplicatesEnabled", "frame", "modelColumn"],
        "methods": ["inputMethodQuery",  # Q_INVOKABLE overload
                    "maxVisibleItems", "setMaxVisibleItems", "count", "setMaxCount", "maxCount",
                    "autoCompletion", "setAutoCompletion", "autoCompletionCaseSensitivity",
                    "setAutoCompletionCaseSensitivity", "duplicatesEnabled", "setDuplicatesEnabled",
                    "setFrame", "hasFrame", "findText", "findData", "insertPolicy", "setInsertPolicy",
                    "sizeAdjustPolicy", "setSizeAdjustPolicy", "minimumContentsLength",
                    "setMinimumContentsLength", "iconSize", "setIconSize", "setPlaceholderText",
                    "placeholderText", "isEditable", "setEditable", "setLineEdit", "lineEdit",
                    "setValidator", "validator", "setCompleter", "completer", "itemDelegate",
                    "setItemDelegate", "model", "setModel", "rootModelIndex", "setRootModelIndex",
                    "modelColumn", "setModelColumn", "currentIndex", "currentText", "currentData",
                    "itemText", "itemIcon", "itemData", "addItem", "addItems", "insertItem", "insertItems",
                    "insertSeparator", "removeItem", "setItemText", "setItemIcon", "setItemData", "view",
                    "setView", "showPopup", "hidePopup"],
        # currentData: BOTH Q_PROPERTY(QVariant currentData READ currentData) and the method
        # QVariant currentData(int role = Qt::UserRole) const. PythonQt resolves the property first,
        # so `combo.currentData` is the value; `combo.currentData()` would try to call that value.
        "deprecated": ["currentIndexChanged(QString)", "activated(QString)", "highlighted(QString)",
                       "autoCompletion", "autoCompletionCaseSensitivity", "setAutoCompletion",
                       "setAutoCompletionCaseSensitivity"],
        "qt6_only": [],  # textActivated/textHighlighted exist since 5.14; placeholderText since 5.15
        "source": QT515.format("qtbase/src/widgets/widgets/qcombobox.h", _A5),
    },
    "QLineEdit": {
        "bases": ["QWidget"],
        "signals": ["textChanged(QString)", "textEdited(QString)", "cursorPositionChanged(int,int)",
                    "returnPressed()", "editingFinished()", "selectionChanged()", "inputRejected()"],
        "slots": ["setText", "clear", "selectAll", "undo", "redo", "cut", "copy", "paste"],
        "properties": ["inputMask", "text", "maxLength", "frame", "echoMode", "displayText",
                       "cursorPosition", "alignment", "modified", "hasSelectedText", "selectedText",
                       "dragEnabled", "readOnly", "undoAvailable", "redoAvailable", "acceptableInput",
                       "placeholderText", "cursorMoveStyle", "clearButtonEnabled"],
        "methods": ["inputMethodQuery", "text", "displayText", "placeholderText", "setPlaceholderText",
                    "maxLength", "setMaxLength", "setFrame", "hasFrame", "setClearButtonEnabled",
                    "isClearButtonEnabled", "echoMode", "setEchoMode", "isReadOnly", "setReadOnly",
                    "setValidator", "validator", "setCompleter", "completer", "cursorPosition",
                    "setCursorPosition", "cursorPositionAt", "setAlignment", "alignment", "cursorForward",
                    "cursorBackward", "cursorWordForward", "cursorWordBackward", "backspace", "del",
                    "home", "end", "isModified", "setModified", "setSelection", "hasSelectedText",
                    "selectedText", "selectionStart", "selectionEnd", "selectionLength",
                    "isUndoAvailable", "isRedoAvailable", "setDragEnabled", "dragEnabled",
                    "setCursorMoveStyle", "cursorMoveStyle", "inputMask", "setInputMask",
                    "hasAcceptableInput", "setTextMargins", "getTextMargins", "textMargins", "addAction",
                    "deselect", "insert", "createStandardContextMenu"],
        "source": QT515.format("qtbase/src/widgets/widgets/qlineedit.h", _7E),
    },
    "QAbstractSpinBox": {
        "bases": ["QWidget"],
        "signals": ["editingFinished()"],
        "slots": ["stepUp", "stepDown", "selectAll", "clear"],
        "properties": ["wrapping", "frame", "alignment", "readOnly", "buttonSymbols", "specialValueText",
                       "text", "accelerated", "correctionMode", "acceptableInput", "keyboardTracking",
                       "showGroupSeparator"],
        "methods": ["buttonSymbols", "setButtonSymbols", "setCorrectionMode", "correctionMode",
                    "hasAcceptableInput", "text", "specialValueText", "setSpecialValueText", "wrapping",
                    "setWrapping", "setReadOnly", "isReadOnly", "setKeyboardTracking", "keyboardTracking",
                    "setAlignment", "alignment", "setFrame", "hasFrame", "setAccelerated",
                    "isAccelerated", "setGroupSeparatorShown", "isGroupSeparatorShown", "interpretText",
                    "validate", "fixup", "stepBy"],
        "source": QT515.format("qtbase/src/widgets/widgets/qabstractspinbox.h", _9D),
    },
    "QSpinBox": {
        "bases": ["QAbstractSpinBox"],
        "signals": ["valueChanged(int)", "textChanged(QString)", "valueChanged(QString)"],
        "slots": ["setValue"],
        "properties": ["suffix", "prefix", "cleanText", "minimum", "maximum", "singleStep", "stepType",
                       "value", "displayIntegerBase"],
        "methods": ["value", "prefix", "setPrefix", "suffix", "setSuffix", "cleanText", "singleStep",
                    "setSingleStep", "minimum", "setMinimum", "maximum", "setMaximum", "setRange",
                    "stepType", "setStepType", "displayIntegerBase", "setDisplayIntegerBase"],
        "deprecated": ["valueChanged(QString)"],  # QT_DEPRECATED_SINCE(5, 14): use textChanged(QString)
        "source": QT515.format("qtbase/src/widgets/widgets/qspinbox.h", _42)
                  + "; textChanged(QString) (5.14+) confirmed by a 5.14+ copy of qspinbox.h "
                    "(find_string 'Use textChanged(QString) instead', index id 1181016355)",
    },
    "QProgressBar": {
        "bases": ["QWidget"],
        "signals": ["valueChanged(int)"],
        "slots": ["reset", "setRange", "setMinimum", "setMaximum", "setValue", "setOrientation"],
        "properties": ["minimum", "maximum", "text", "value", "alignment", "textVisible", "orientation",
                       "invertedAppearance", "textDirection", "format"],
        "methods": ["minimum", "maximum", "value", "text", "setTextVisible", "isTextVisible", "alignment",
                    "setAlignment", "orientation", "setInvertedAppearance", "invertedAppearance",
                    "setTextDirection", "textDirection", "setFormat", "resetFormat", "format"],
        "source": QT515.format("qtbase/src/widgets/widgets/qprogressbar.h", _42)
                  + "; QProgressBar API unchanged 5.13..5.15",
    },
    # ------------------------------------------------------------------ CTK
    "ctkCollapsibleButton": {
        "bases": ["QAbstractButton"],
        "signals": ["contentsCollapsed(bool)"],
        "slots": [],  # only protected slots collapse(bool), onToggled(bool)
        "properties": ["collapsed", "collapsedHeight", "flat", "contentsFrameShape", "contentsFrameShadow",
                       "contentsLineWidth", "contentsMidLineWidth", "buttonTextAlignment",
                       "indicatorAlignment"],
        "methods": [],
        "not_exposed": ["setCollapsed", "collapsed", "setCollapsedHeight", "collapsedHeight", "setFlat",
                        "isFlat", "contentsFrameShape", "setContentsFrameShape", "contentsFrameShadow",
                        "setContentsFrameShadow", "contentsLineWidth", "setContentsLineWidth",
                        "contentsMidLineWidth", "setContentsMidLineWidth", "buttonTextAlignment",
                        "setButtonTextAlignment", "indicatorAlignment", "setIndicatorAlignment"],
        "source": CTK.format("Libs/Widgets/ctkCollapsibleButton.h"),
    },
    "ctkPathLineEdit": {
        "bases": ["QWidget"],
        "signals": ["validInputChanged(bool)", "currentPathChanged(QString)"],
        "slots": ["setCurrentPath", "browse", "retrieveHistory", "addCurrentPathToHistory"],
        "properties": ["label", "filters", "currentPath", "options", "settingKey", "showBrowseButton",
                       "showHistoryButton", "sizeAdjustPolicy", "minimumContentsLength", "nameFilters"],
        "methods": ["comboBox"],  # Q_INVOKABLE
        "not_exposed": ["label", "setLabel", "nameFilters", "setNameFilters", "filters", "setFilters",
                        "options", "setOptions", "currentPath", "setCurrentFileExtension", "settingKey",
                        "setSettingKey", "showBrowseButton", "setShowBrowseButton", "showHistoryButton",
                        "setShowHistoryButton", "sizeAdjustPolicy", "setSizeAdjustPolicy",
                        "minimumContentsLength", "setMinimumContentsLength"],
        "source": CTK.format("Libs/Widgets/ctkPathLineEdit.h"),
    },
    "ctkSliderWidget": {
        "bases": ["QWidget"],
        "signals": ["valueChanged(double)", "valueIsChanging(double)", "decimalsChanged(int)"],
        "slots": ["reset", "setValue", "setSpinBoxVisible", "setDecimals"],
        "properties": ["decimals", "singleStep", "pageStep", "minimum", "maximum", "value", "prefix",
                       "suffix", "tickInterval", "tickPosition", "synchronizeSiblings", "spinBoxAlignment",
                       "tracking", "spinBoxVisible", "popupSlider", "invertedAppearance",
                       "invertedControls"],
        "methods": [],
        "not_exposed": ["setMinimum", "setMaximum", "setRange", "setSingleStep", "setPageStep",
                        "setPrefix", "setSuffix", "setTickInterval", "setTickPosition",
                        "setSpinBoxAlignment", "setTracking", "synchronizeSiblings",
                        "setSynchronizeSiblings", "setInvertedAppearance", "setInvertedControls",
                        "setPopupSlider", "spinBox", "slider", "setValueProxy", "valueProxy", "minimum",
                        "maximum", "value", "singleStep", "pageStep", "decimals", "prefix", "suffix",
                        "tickInterval", "tickPosition", "hasTracking", "isSpinBoxVisible",
                        "hasPopupSlider", "invertedAppearance", "invertedControls"],
        "source": CTK.format("Libs/Widgets/ctkSliderWidget.h"),
    },
    # ------------------------------------------------------------------ qMRML (Slicer)
    "qMRMLWidget": {
        "bases": ["QWidget"],
        "signals": ["mrmlSceneChanged(vtkMRMLScene*)"],
        "slots": ["setMRMLScene"],
        "properties": [],
        "methods": ["mrmlScene", "preInitializeApplication", "postInitializeApplication",
                    "pixmapFromIcon"],  # Q_INVOKABLE
        "not_exposed": ["safeQStringFromUtf8Ptr"],
        "source": SLICER.format("Libs/MRML/Widgets/qMRMLWidget.h"),
    },
    "qMRMLNodeComboBox": {
        "bases": ["QWidget"],
        "signals": ["currentNodeChanged(vtkMRMLNode*)", "currentNodeIDChanged(QString)",
                    "nodeActivated(vtkMRMLNode*)", "currentNodeChanged(bool)", "nodeAdded(vtkMRMLNode*)",
                    "nodeAddedByUser(vtkMRMLNode*)", "nodeAddedByUserAction(vtkMRMLNode*)",
                    "nodeAboutToBeRemoved(vtkMRMLNode*)", "currentNodeRenamed(QString)",
                    "nodeAboutToBeEdited(vtkMRMLNode*)"],
        "slots": ["setMRMLScene", "setCurrentNode", "setCurrentNodeID", "setCurrentNodeIndex", "addNode",
                  "removeCurrentNode", "editCurrentNode", "renameCurrentNode"],
        "properties": ["currentNodeID", "currentNodeId", "nodeTypes", "showHidden", "showChildNodeTypes",
                       "hideChildNodeTypes", "baseName", "noneEnabled", "addEnabled", "removeEnabled",
                       "editEnabled", "renameEnabled", "interactionNodeSingletonTag",
                       "selectNodeUponCreation", "noneDisplay", "sizeAdjustPolicy"],
        "methods": ["mrmlScene", "addAttribute", "removeAttribute", "setNodeTypeLabel", "nodeTypeLabel",
                    "nodeCount", "nodeFromIndex", "currentNode", "currentNodeId", "sortFilterProxyModel",
                    "addMenuAction"],  # Q_INVOKABLE
        "not_exposed": ["setNodeTypes", "setShowHidden", "setShowChildNodeTypes", "setHideChildNodeTypes",
                        "setBaseName", "selectNodeUponCreation", "setSelectNodeUponCreation",
                        "setNoneEnabled", "setAddEnabled", "setRemoveEnabled", "setEditEnabled",
                        "setRenameEnabled", "setNoneDisplay", "nodes", "model", "sceneModel",
                        "nodeFactory", "setSizeAdjustPolicy", "setInteractionNodeSingletonTag"],
        "source": SLICER.format("Libs/MRML/Widgets/qMRMLNodeComboBox.h"),
    },
}


def _bare(signature: str) -> str:
    return signature.split("(", 1)[0]


def lineage(cls_name: str) -> list:
    """The class and all its bases, nearest first."""
    out, todo = [], [cls_name]
    while todo:
        name = todo.pop(0)
        if name in out:
            continue
        if name not in QT_API:
            raise KeyError(f"{name} is not in QT_API")
        out.append(name)
        todo.extend(QT_API[name]["bases"])
    return out


def members(cls_name: str) -> set:
    """Every name Python can use on an instance of cls_name (class + bases): signals both as full
    normalized signature ("clicked(bool)") and bare name ("clicked"), slots, properties, methods."""
    names = set()
    for name in lineage(cls_name):
        entry = QT_API[name]
        for sig in entry["signals"]:
            names.add(sig)
            names.add(_bare(sig))
        names.update(entry["slots"])
        names.update(entry["properties"])
        names.update(entry["methods"])
    return names


def signals(cls_name: str) -> set:
    """Normalized signal signatures of cls_name and its bases."""
    return {s for name in lineage(cls_name) for s in QT_API[name]["signals"]}


def properties(cls_name: str) -> set:
    return {p for name in lineage(cls_name) for p in QT_API[name]["properties"]}


def qt6_only(cls_name: str) -> set:
    return {n for name in lineage(cls_name) for n in QT_API[name].get("qt6_only", [])}
