// Two languages: zh-CN (default) and English. t("key") -> text in the chosen language.
const LANG_KEY = "tc.lang";

const TEXT = {
  app: ["县域远程诊断中心", "County Remote Diagnostic Center"],
  signIn: ["登录", "Sign in"], signOut: ["退出", "Sign out"],
  username: ["用户名", "Username"], password: ["密码", "Password"],
  badLogin: ["用户名或密码错误", "Wrong username or password"],
  lang: ["English", "中文"],
  clinic: ["诊所工作台", "Clinic console"], worklist: ["工作列表", "Worklist"],
  referrals: ["转诊", "Referrals"], admin: ["系统管理", "Administration"], audit: ["审计日志", "Audit log"],
  lab: ["检验", "Laboratory"], home: ["首页", "Home"],
  ecg_read: ["心电", "ECG"], imaging_read: ["影像", "Imaging"], video_consult: ["视频会诊", "Video consult"],
  lab_test: ["检验", "Lab test"],
  routine: ["常规", "Routine"], urgent: ["急", "Urgent"], stat: ["危急/即刻", "STAT"],
  requested: ["待接收", "Requested"], accepted: ["已接收", "Accepted"], rejected: ["已拒绝", "Rejected"],
  in_progress: ["处理中", "In progress"], completed: ["已完成", "Completed"], cancelled: ["已取消", "Cancelled"],
  opened: ["已发起", "Opened"], arrived: ["已到院", "Arrived"], closed: ["已结束", "Closed"],
  patient: ["患者", "Patient"], patients: ["患者", "Patients"], findPatient: ["查找患者", "Find a patient"],
  search: ["查找", "Search"], searchHint: ["姓名、病历号或身份证号", "Name, record number or resident ID"],
  register: ["登记新患者", "Register a patient"], name: ["姓名", "Name"], sex: ["性别", "Sex"],
  M: ["男", "Male"], F: ["女", "Female"], O: ["其他", "Other"], U: ["未知", "Unknown"],
  birthDate: ["出生日期", "Birth date"], phone: ["电话", "Phone"], residentId: ["身份证号", "Resident ID"],
  recordNumber: ["病历号", "Record number"], save: ["保存", "Save"], cancel: ["取消", "Cancel"],
  ridOk: ["身份证号校验通过", "Resident ID is valid"], ridBad: ["身份证号无效", "Resident ID is invalid"],
  ridLen: ["身份证号应为18位", "A resident ID has 18 characters"],
  ridCheck: ["校验位错误", "Check character does not match"], ridDate: ["出生日期无效", "Birth date is invalid"],
  ridSex: ["性别与身份证号不符", "Sex does not match the resident ID"],
  consent: ["知情同意", "Consent"], consentRecords: ["记录同意（病历共享）", "Record consent (records)"],
  consentRecording: ["记录同意（会诊录像）", "Record consent (recording)"], consentOk: ["已记录同意", "Consent recorded"],
  hasConsent: ["已同意", "Consented"], noConsent: ["未记录同意", "No consent on record"],
  newRequest: ["发起申请", "New request"], kind: ["类型", "Kind"], priority: ["优先级", "Priority"],
  question: ["临床问题", "Clinical question"], send: ["发送", "Send"], ecgFile: ["心电文件", "ECG file"],
  csvFs: ["CSV采样率(Hz)", "CSV sampling rate (Hz)"], tests: ["检验项目", "Tests"],
  specimen: ["标本", "Specimen"], requests: ["申请", "Requests"], status: ["状态", "Status"],
  due: ["截止", "Due"], created: ["创建", "Created"], overdue: ["已超时", "Overdue"], critical: ["危急", "Critical"],
  inbox: ["报告收件箱", "Report inbox"], markRead: ["标为已读", "Mark read"], print: ["打印", "Print"],
  unread: ["未读", "Unread"], read: ["已读", "Read"], open: ["打开", "Open"], none: ["无", "None"],
  selectPatient: ["请先选择患者", "Select a patient first"], sent: ["已发送", "Sent"],
  slot: ["预约时段", "Reserved slot"], place: ["地点", "Place"], department: ["科室", "Department"],
  reason: ["原因", "Reason"], urgency: ["紧急程度", "Urgency"], accept: ["接收", "Accept"],
  arrive: ["已到院", "Mark arrived"], close: ["结束", "Close"], backReferral: ["回转", "Back-referral"],
  summary: ["摘要", "Summary"], reject: ["拒绝", "Reject"], start: ["开始", "Start"],
  sign: ["签发", "Sign"], signed: ["已签发", "Signed"], draft: ["草稿", "Draft"], saveDraft: ["保存草稿", "Save draft"],
  findings: ["所见", "Findings"], impression: ["诊断意见", "Impression"], report: ["报告", "Report"],
  measurements: ["测量值", "Measurements"], statements: ["诊断语句", "Statements"],
  heartRate: ["心率", "Heart rate"], axes: ["电轴", "Axes"], zoom: ["缩放", "Zoom"],
  calipers: ["测量尺", "Calipers"], caliperHint: ["在波形上拖动以测量间期", "Drag on the tracing to measure an interval"],
  layout: ["布局", "Layout"], rhythm: ["节律条", "Rhythm strip"], machine: ["机器分析", "Machine analysis"],
  noEcg: ["该申请尚无心电图", "No ECG for this request yet"], ecgViewer: ["心电阅读", "ECG viewer"],
  imagingViewer: ["影像阅读", "Image viewer"], studies: ["检查", "Studies"], series: ["序列", "Series"],
  window: ["窗宽窗位", "Window/level"], preset: ["预设", "Preset"], slice: ["层面", "Slice"], frame: ["帧", "Frame"],
  reset: ["复位", "Reset"], noStudies: ["该申请尚无影像", "No studies for this request yet"],
  live: ["实时", "Live"], offline: ["离线，重连中", "Offline, reconnecting"], refresh: ["刷新", "Refresh"],
  newItem: ["新申请", "New request"], statAlert: ["危急/即刻申请！", "STAT request!"],
  room: ["会诊室", "Consult room"], join: ["加入", "Join"], leave: ["离开", "Leave"], end: ["结束会诊", "End consult"],
  mute: ["静音", "Mute"], unmute: ["取消静音", "Unmute"], camera: ["摄像头", "Camera"], audioOnly: ["仅语音", "Audio only"],
  chat: ["聊天", "Chat"], deviceCheck: ["设备检查", "Device check"], lobby: ["等候室，等待主持人", "Lobby: waiting for the host"],
  micLevel: ["麦克风", "Microphone"], videoOff: ["关闭视频", "Video off"], videoOn: ["开启视频", "Video on"],
  admit: ["准入", "Admit"], participants: ["参会者", "Participants"], roomUnavailable: ["会诊室服务不可用", "Consult rooms are not available"],
  coView: ["共同阅片", "Co-viewing"], raiseHand: ["举手", "Raise hand"], muted: ["已静音", "Muted"],
  instName: ["名称", "Name"], amend: ["修订", "Amend"],
  guest: ["访客", "Guest"], roleHost: ["主持人", "Host"], roleMember: ["会诊专家", "Specialist"], roleGuest: ["访客", "Guest"], keyImages: ["关键图像", "Key images"], invite: ["邀请患者", "Invite the patient"], guestName: ["患者姓名", "Patient's name"], amended: ["已修订", "Amended"],
  orders: ["检验单", "Orders"], results: ["结果", "Results"], enterResults: ["录入结果", "Enter results"],
  value: ["结果值", "Value"], unit: ["单位", "Unit"], flag: ["标志", "Flag"], range: ["参考范围", "Range"],
  release: ["审核发布", "Validate and release"], receive: ["签收", "Receive"], collect: ["采集", "Collect"], ship: ["送检", "Ship"],
  alerts: ["危急值", "Critical values"], ack: ["确认", "Acknowledge"], notifiedPerson: ["通知对象", "Person notified"],
  method: ["方式", "Method"], cumulative: ["累积结果", "Cumulative results"], test: ["项目", "Test"],
  institutions: ["机构", "Institutions"], users: ["用户", "Users"], devices: ["DICOM设备", "DICOM devices"],
  catalogue: ["检验目录", "Lab catalogue"], code: ["编码", "Code"], level: ["级别", "Level"], role: ["角色", "Role"],
  active: ["启用", "Active"], disable: ["停用", "Disable"], enable: ["启用", "Enable"], add: ["添加", "Add"],
  aeTitle: ["AE名称", "AE title"], host: ["主机", "Host"], port: ["端口", "Port"], institution: ["机构", "Institution"],
  actor: ["操作者", "Actor"], action: ["操作", "Action"], outcome: ["结果", "Outcome"], since: ["起", "Since"],
  until: ["止", "Until"], verify: ["校验哈希链", "Verify chain"], chainOk: ["哈希链完整", "Chain intact"],
  chainBad: ["哈希链断裂", "Chain broken"], time: ["时间", "Time"], object: ["对象", "Object"], filter: ["筛选", "Filter"],
  signer: ["签发医师", "Signed by"], signedAt: ["签发时间", "Signed at"], requestNo: ["申请号", "Request no."],
  age: ["年龄", "Age"], from: ["申请机构", "From"], printReport: ["远程诊断报告", "Remote diagnostic report"],
  back: ["返回", "Back"], error: ["出错", "Error"], loading: ["加载中…", "Loading…"], empty: ["暂无", "Nothing yet"],
  referNow: ["绿色通道转诊", "Green-channel referral"], refer: ["转诊", "Refer"],
  // -- long ECG reading --
  overview: ["概览", "Overview"], rateTrend: ["心率", "Heart rate"], episodes: ["节律事件", "Rhythm episodes"],
  afBurden: ["房颤负荷", "AF burden"], noEpisodes: ["未见节律事件", "No rhythm episodes"],
  episodesUnknown: ["本次分析未给出节律事件", "The analysis lists no rhythm episodes"], duration: ["时长", "Duration"],
  pageOf: ["第", "Page"], prevPage: ["上一页", "Previous"], nextPage: ["下一页", "Next"], jumpTo: ["跳转到", "Go to"],
  lead: ["导联", "Lead"], bpm: ["次/分", "/min"], longestRr: ["最长RR间期", "Longest RR"], ectopy: ["室早/房早", "PVCs/PACs"],
  tracingUnavailable: ["心电图波形无法显示，不能签发", "The tracing cannot be drawn; the report cannot be signed"],
  toView: ["签发前须查看", "To view before signing"], viewTracing: ["完整波形", "The whole tracing"],
  viewOverview: ["概览", "The overview"], viewStrips: ["至少一页波形", "At least one page of strips"],
  viewEpisode: ["危急事件", "Critical episode at"], allViewed: ["波形已查看，可以签发", "Tracing viewed; ready to sign"],
  badTime: ["时间格式为 时:分:秒", "Enter the time as h:mm:ss"],
  af: ["心房颤动", "Atrial fibrillation"], flutter: ["心房扑动", "Atrial flutter"], svt: ["室上性心动过速", "SVT"],
  vt: ["室性心动过速", "Ventricular tachycardia"], couplet: ["成对室早", "Ventricular couplet"], triplet: ["三联室早", "Ventricular triplet"],
  bigeminy: ["室早二联律", "Ventricular bigeminy"], trigeminy: ["室早三联律", "Ventricular trigeminy"], pause: ["长间歇", "Pause"],
  sinus_brady: ["窦性心动过缓", "Sinus bradycardia"], sinus_tachy: ["窦性心动过速", "Sinus tachycardia"],
  avb1: ["一度房室传导阻滞", "First-degree AV block"], avb2_mobitz1: ["二度I型房室传导阻滞", "Second-degree AV block, Mobitz I"],
  avb2_mobitz2: ["二度II型房室传导阻滞", "Second-degree AV block, Mobitz II"], avb2_2to1: ["2:1房室传导阻滞", "2:1 AV block"],
  avb3: ["三度房室传导阻滞", "Third-degree AV block"], paced: ["起搏心律", "Paced rhythm"],
  // -- end long ECG reading --
};

export function lang() {
  return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh-CN";
}

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value);
  document.documentElement.lang = value;
}

export function t(key) {
  const entry = TEXT[key];
  if (!entry) return key;
  return lang() === "en" ? entry[1] : entry[0];
}

// Pick the local or the English one of a pair of server fields (name / name_en, title / title_en).
export function pick(zh, en) {
  return lang() === "en" && en ? en : zh;
}

document.documentElement.lang = lang();
