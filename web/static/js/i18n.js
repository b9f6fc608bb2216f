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
  // -- consult: conclusion, one owner, hold/resume --
  on_hold: ["待补充信息", "On hold"], consultOpinion: ["会诊意见", "Consult opinion"],
  advice: ["建议", "Advice"], plan: ["处置计划", "Plan"], treat_locally: ["基层治疗", "Treat locally"],
  follow_up: ["随访", "Follow up"], instructions: ["处置说明", "Instructions"], followUpOn: ["随访日期", "Follow-up date"],
  referTo: ["转诊科室", "Refer to"], conducted_video: ["经视频会诊", "Held by video"],
  conducted_written: ["书面会诊（未视频）", "Answered in writing"], hold: ["暂停并询问诊所", "Hold and ask the clinic"],
  holdQuestion: ["向诊所提问", "Question for the clinic"], answer: ["答复", "Answer"],
  clinicAnswer: ["诊所答复", "Clinic's answer"], waitingAnswer: ["等待诊所答复", "Waiting for the clinic's answer"],
  reassign: ["改派", "Reassign"], reassignTo: ["改派给", "Hand to"], assignee: ["负责医师", "Assignee"],
  you: ["您", "You"], otherSpecialist: ["其他专家", "Another specialist"], openRoom: ["进入会诊室", "Open the room"],
  consultPage: ["会诊意见页", "Consult page"],
  bye_left: ["您已离开会诊室", "You left the room"], bye_removed: ["已被移出会诊室", "Removed from the room"],
  bye_ended: ["会诊已结束", "The consult has ended"], bye_replaced: ["已在其他窗口加入", "Joined from another window"],
  bye_timeout: ["连接超时", "Connection timed out"],
  err_not_assignee: ["该申请由其他专家负责，您不能书写或签发", "This request is assigned to another specialist"],
  err_request_taken: ["该申请已被其他专家接收", "Another specialist has already accepted this request"],
  err_on_hold: ["申请已暂停，等待诊所答复", "On hold, waiting for the clinic's answer"],
  err_not_on_hold: ["该申请未在等待答复", "This request is not waiting for an answer"],
  err_same_assignee: ["已由该专家负责", "Already assigned to this specialist"],
  err_invalid_transition: ["当前状态不允许此操作", "Not allowed in the current state"],
  err_invalid_input: ["输入有误，请检查", "Please check the input"],
  "err_field_data.plan": ["请选择处置计划", "Choose a plan"],
  "err_field_data.plan.instructions": ["请填写基层治疗的处置说明", "Write the instructions for treating locally"],
  "err_field_data.plan.follow_up_on": ["请填写有效的随访日期", "Give a valid follow-up date"],
  err_field_findings: ["签发前请填写所见或建议", "Write findings or advice before signing"],
  // -- critical alerts --
  alertEcg: ["心电图危急值", "Critical ECG"], alertLab: ["检验危急值", "Critical lab value"],
  alertEscalatedTownship: ["未及时确认，已上报乡镇值班医生", "Not acknowledged: escalated to the township duty doctor"],
  alertEscalatedDesk: ["未及时确认，已上报中心值班台", "Not acknowledged: escalated to the center's duty desk"],
  alertSpokenTo: ["通话对象（姓名）", "Person spoken to (name)"], alertAckSeen: ["已查看，立即处理", "Seen, acting on it"],
  alertAckPhoned: ["已电话通知", "Phoned"], alertNeedPerson: ["请填写通话对象的姓名", "Name the person you spoke to"],
  alertAlreadyAcked: ["已由他人确认", "Already acknowledged by someone else"], alertClinic: ["诊所", "Clinic"],
  alertRequest: ["申请", "Request"], alertAcks: ["危急值确认", "Critical alert acknowledgement"],
  alertNotAcked: ["尚未确认", "Not yet acknowledged"], alertAckedBy: ["确认人", "Acknowledged by"],
  ackMethod_in_app: ["应用内查看", "Seen in app"], ackMethod_phone: ["电话通知", "Phoned"],
  alertLevel0: ["已通知诊所与值班台", "Clinic and duty desk alerted"],
  duty_desk: ["值班台", "Duty desk"], dutyDesk: ["危急值值班台", "Critical alerts desk"],
  alertsOpen: ["待确认的危急值", "Alerts awaiting acknowledgement"], alertsRecent: ["近期危急值", "Recent critical alerts"],
  alertsNone: ["目前没有待确认的危急值", "No alerts awaiting acknowledgement"],
  // -- referrals: green channel from the reading pages, department desks, capacity --
  department_desk: ["科室接诊", "Department desk"], departmentDesk: ["科室转诊接诊", "Department referrals"],
  referred: ["已转诊", "Referred"], referralExists: ["该报告已有未结束的转诊", "This report already has an open referral"],
  slot_full: ["该时段已满，请选择其他时段", "That slot is full; choose another"],
  slot_booked: ["该时段已有预约，不能撤销", "That slot has bookings and cannot be withdrawn"],
  clinicalSummary: ["病情摘要", "Clinical summary"], incoming: ["待接收转诊", "Incoming referrals"],
  capacity: ["可预约资源", "Capacity"], publishSlot: ["发布时段", "Publish a slot"], places: ["名额", "Places"],
  booked: ["已约", "Booked"], free: ["余", "free"], startsAt: ["开始", "Starts"], endsAt: ["结束", "Ends"],
  date: ["日期", "Date"], withdraw: ["撤销", "Withdraw"], noFreeSlot: ["暂无可预约时段，请科室先发布", "No free slot; the department publishes capacity first"],
  viewReport: ["查看报告", "View report"], hideReport: ["收起报告", "Hide report"], chooseSlot: ["选择时段", "Choose a slot"],
  cath_lab: ["导管室", "Cath lab"], ward_bed: ["病床", "Ward bed"], clinic_session: ["门诊时段", "Clinic session"],
  icu_bed: ["抢救/监护床位", "Resuscitation / ICU bed"], resourceKind: ["资源类型", "Resource"],
  referral_exists: ["该报告已有未结束的转诊", "This report already has an open referral"],
  cardiology: ["心内科", "Cardiology"], emergency: ["急诊科", "Emergency"], showAll: ["显示全部", "Show all"],
  openOnly: ["仅未结束", "Open only"],
  // -- end referrals --
  // -- match: reconciliation --
  reconciliation: ["待核对资料", "Reconciliation"], fileOnPatient: ["归档到该患者", "File on this patient"],
  filed: ["已归档", "Filed"], claimedPatient: ["资料中的患者", "Patient in the data"],
  reason: ["原因", "Reason"],
  reconcileHint: ["以下影像或心电与所指申请单的患者或机构不符，未归档。请核对后归档到发送机构的正确患者。",
    "These studies and ECGs disagree with the request they name, and were not filed. Check them and file each on the right patient of the sending clinic."],
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
